"""Small helpers for reading forms and carrying their errors back to the page, and the one
guard on text from a request (a form field or a query parameter) before it can reach a query."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from litestar import Request

from app.domain.numbers import MAX_ID, parse_id, parse_whole
from app.i18n import N_, gettext

__all__ = [
    "FINGERPRINT", "MAX_ID", "REFUSED", "Form", "input_refused", "is_htmx", "parse_id",
    "parse_whole", "read_form", "refused_text", "text_errors",
]  # fmt: skip

# InvoiceSummary.fingerprint, carried by a form: what the person reviewed
FINGERPRINT = re.compile(r"[0-9a-f]{16}")

# C0 control characters: PostgreSQL refuses NUL in text (a 500 there, where SQLite stores it),
# and nobody types the others into a form. Tab is kept (a browser sends one pasted into a
# one-line field too); CR and LF only from a multi-line field.
_ONE_LINE = re.compile(r"[\x00-\x08\x0a-\x1f]")
_MULTI_LINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# The fields that are <textarea>s in the templates (tests/integration/test_control_characters.py
# keeps the two lists the same): none today.
MULTI_LINE_FIELDS: frozenset[str] = frozenset()
REFUSED = N_("This has characters that can't be accepted here. Type it again.")
# Scope state: this request carried refused text (web/render.py answers 400 instead of 422).
_REFUSED_STATE = "input_refused"


def refused_text(text: str, *, multi_line: bool = False) -> bool:
    """True when `text` holds a control character no field of ours takes."""
    return (_MULTI_LINE if multi_line else _ONE_LINE).search(text) is not None


def text_errors(values: Mapping[str, str | None]) -> dict[str, str]:
    """The same guard for text that does not come in a form (query parameters): each refused
    value's name with its message, in the reader's language, for the page to show by its
    field with a 400."""
    return {
        name: gettext(REFUSED)
        for name, text in values.items()
        if text and refused_text(text, multi_line=name in MULTI_LINE_FIELDS)
    }


def _mark_refused(request: Request[Any, Any, Any]) -> None:
    request.scope.setdefault("state", {})[_REFUSED_STATE] = True  # type: ignore[typeddict-item]


def input_refused(request: Request[Any, Any, Any]) -> bool:
    """Did this request's form carry text the guard refused (read_form)?"""
    return bool(request.scope.get("state", {}).get(_REFUSED_STATE))


@dataclass
class Form:
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def error(self, name: str, message: str, **variables: Any) -> None:
        """Keep the first message for a field, in the reader's language: messages are marked
        where they are defined (`N_`, `_`) and translated here, where they meet the page
        (staff pages are always English, so theirs pass through unchanged)."""
        self.errors.setdefault(name, gettext(message, **variables))

    @property
    def ok(self) -> bool:
        return not self.errors


async def read_form(request: Request[Any, Any, Any]) -> Form:
    """The form's fields, trimmed. A field whose text the guard refuses (`refused_text`) comes
    back empty with its message, so nothing past here sees it: the handler shows the form again
    with the message by the field, and web/render.py makes that answer a 400. A field name
    that is not text we could have written is left out."""
    data = await request.form()
    form = Form()
    for name, value in data.items():
        if name == "_csrf_token" or refused_text(name):
            continue
        text = value.strip() if isinstance(value, str) else ""
        if refused_text(text, multi_line=name in MULTI_LINE_FIELDS):
            form.error(name, REFUSED)
            _mark_refused(request)
            text = ""
        form.values[name] = text
    return form


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"
