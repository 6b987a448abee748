"""Dev-only pages: the SMS outbox shown as a phone inbox (registered only when APP_ENV=dev)."""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, Response, get

from app.adapters.sms.outbox import OutboxSms
from app.services.sms import TOKEN_MARK
from app.store import queries
from app.web.deps import Db
from app.web.render import render

_URL = re.compile(r"(https?://[^\s()]+(?<![.,]))")
_HIDDEN = re.compile(r"https?://\S*" + re.escape(TOKEN_MARK))


def split_links(body: str) -> list[tuple[str, bool]]:
    """Text parts with a flag for those that are links, so the template can make them clickable."""
    return [(part, bool(_URL.fullmatch(part))) for part in _URL.split(body) if part]


class DevController(Controller):
    path = "/dev"

    @get("/sms", name="dev_sms")
    async def sms_inbox(self, request: Request[Any, Any, Any], db: Db) -> Response[Any]:
        messages = await queries.recent_sms(db)
        phone = request.app.state.sms
        shown = []
        for m in messages:
            # The text as the phone got it; a row not sent yet, or gone from the phone's inbox,
            # shows its stored body, whose token is not ours to show.
            text = await phone.text_of(m.id or 0) if isinstance(phone, OutboxSms) else None
            if text is None:
                text = _HIDDEN.sub("[payment link: not kept after a restart]", m.body)
            shown.append((m, split_links(text)))
        return render("dev/sms.html", messages=shown)
