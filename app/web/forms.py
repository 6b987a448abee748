"""Small helpers for reading forms and carrying their errors back to the page."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from litestar import Request

from app.domain.numbers import MAX_ID, parse_id, parse_whole
from app.i18n import gettext

__all__ = ["FINGERPRINT", "MAX_ID", "Form", "is_htmx", "parse_id", "parse_whole", "read_form"]

# InvoiceSummary.fingerprint, carried by a form: what the person reviewed
FINGERPRINT = re.compile(r"[0-9a-f]{16}")


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
    data = await request.form()
    values = {
        k: (v.strip() if isinstance(v, str) else "") for k, v in data.items() if k != "_csrf_token"
    }
    return Form(values=values)


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"
