"""Render a template as an HTML response (also when a handler may return other responses)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.enums import MediaType
from litestar.response import Template
from litestar.response.base import ASGIResponse
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_422_UNPROCESSABLE_ENTITY

from app.web.forms import input_refused


class _Page(Template):
    """A page that shows a form again answers 400, not 422, when the request carried text the
    guard refused (web/forms.py): a malformed request, not a mistake in what was typed. Every
    handler's "show the form again" path gets this without knowing about the guard."""

    def to_asgi_response(
        self, app: Any, request: Request[Any, Any, Any], **kwargs: Any
    ) -> ASGIResponse:
        if self.status_code == HTTP_422_UNPROCESSABLE_ENTITY and input_refused(request):
            self.status_code = HTTP_400_BAD_REQUEST
        return super().to_asgi_response(app, request, **kwargs)


def render(
    name: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Template:
    return _Page(
        name,
        context=context,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers=headers,
    )
