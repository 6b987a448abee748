"""Render a template as an HTML response (also when a handler may return other responses)."""

from __future__ import annotations

from typing import Any

from litestar.enums import MediaType
from litestar.response import Template


def render(
    name: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Template:
    return Template(
        name,
        context=context,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers=headers,
    )
