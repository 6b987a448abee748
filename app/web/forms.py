"""Small helpers for reading forms and carrying their errors back to the page."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from litestar import Request

# InvoiceSummary.fingerprint, carried by a form: what the person reviewed
FINGERPRINT = re.compile(r"[0-9a-f]{16}")


@dataclass
class Form:
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    @property
    def ok(self) -> bool:
        return not self.errors


async def read_form(request: Request[Any, Any, Any]) -> Form:
    data = await request.form()
    values = {
        k: (v.strip() if isinstance(v, str) else "") for k, v in data.items() if k != "_csrf_token"
    }
    return Form(values=values)


MAX_ID = 2**31 - 1  # ids are 32-bit on PostgreSQL; anything larger is not one of ours


def parse_id(text: str | None) -> int | None:
    """A record id typed or posted by a browser: a positive 32-bit integer, else None."""
    text = (text or "").strip()
    if not text.isdigit() or len(text) > 10:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"
