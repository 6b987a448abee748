"""Dev-only pages: the SMS outbox shown as a phone inbox (registered only when APP_ENV=dev)."""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, Response, get

from app.store import queries
from app.web.deps import Db
from app.web.render import render

_URL = re.compile(r"(https?://\S+)")


def split_links(body: str) -> list[tuple[str, bool]]:
    """Text parts with a flag for those that are links, so the template can make them clickable."""
    return [(part, bool(_URL.fullmatch(part))) for part in _URL.split(body) if part]


class DevController(Controller):
    path = "/dev"

    @get("/sms", name="dev_sms")
    async def sms_inbox(self, request: Request[Any, Any, Any], db: Db) -> Response[Any]:
        messages = await queries.recent_sms(db)
        # The text as the phone got it; a row not yet delivered shows its stored, tokenless body.
        phone: dict[int, str] = getattr(request.app.state.sms, "delivered", {})
        return render(
            "dev/sms.html",
            messages=[(m, split_links(phone.get(m.id or 0, m.body))) for m in messages],
        )
