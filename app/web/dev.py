"""Dev-only pages: the SMS outbox shown as a phone inbox (registered only when APP_ENV=dev), with
a reply box under each text so anyone can play the client's side without a phone."""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from app.adapters.sms.outbox import OutboxSms
from app.services import reminders, sms, sms_events
from app.services.sms import TOKEN_MARK
from app.services.sms_worker import deliver_due
from app.web.deps import Db, clock_of, settings_of
from app.web.forms import Form, is_htmx, parse_id, read_form
from app.web.render import render

_URL = re.compile(r"(https?://[^\s()]+(?<![.,]))")
_HIDDEN = re.compile(r"https?://\S*" + re.escape(TOKEN_MARK))
REPLY_MAX = 320  # two segments' worth: longer is not a reply anyone types

# What the inbound handler did with a reply (sms_events.inbound), said for the person testing.
OUTCOMES = {
    "pay_link": "PAY received: a new Secure Payment Link was texted (the newest text, first).",
    "pay_unknown": "PAY from a number no client has: a polite answer was texted, no link.",
    "pay_opted_out": (
        "PAY from an opted-out number: nothing was sent (carriers forbid texting a number that "
        "replied STOP)."
    ),
    "pay_which": (
        "PAY without a recent reminder, and the number's client has several vehicles: a polite "
        "answer asks them to call; no link."
    ),
    "pay_paid": "PAY for a period already paid: a polite answer was texted, no link.",
    "pay_not_accepted": "PAY, but the location does not take payments: a polite answer, no link.",
    "pay_limit": "PAY past the link limits: a polite answer was texted, no link.",
    "pay_silent": "PAY past the number's texts for today: nothing was sent.",
    "stop": "STOP: the number is opted out of texts.",
    "start": "START: the number is opted back in.",
    "help": "HELP: Twilio gets the help text in its answer (not a text in this inbox).",
    "ignored": "Nothing to do for that reply.",
}


def split_links(body: str) -> list[tuple[str, bool]]:
    """Text parts with a flag for those that are links, so the template can make them clickable."""
    return [(part, bool(_URL.fullmatch(part))) for part in _URL.split(body) if part]


class DevController(Controller):
    path = "/dev"

    async def _inbox(self, request: Request[Any, Any, Any], db: Db) -> list[Any]:
        messages = await sms.recent(db)
        phone = request.app.state.sms
        shown = []
        for m in messages:
            # The text as the phone got it; a row not sent yet, or gone from the phone's inbox,
            # shows its stored body, whose token is not ours to show.
            text = await phone.text_of(m.id or 0) if isinstance(phone, OutboxSms) else None
            if text is None:
                hidden = (
                    "[payment link: being sent, reload]"
                    if m.status == "queued"
                    else "[payment link: not kept after a restart]"
                )
                text = _HIDDEN.sub(hidden, m.body)
            shown.append((m, split_links(text)))
        return shown

    async def _page(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        *,
        status_code: int = 200,
        outcome: str | None = None,
        replied: int | None = None,
        form: Form | None = None,
    ) -> Response[Any]:
        return render(
            "dev/sms.html",
            status_code=status_code,
            messages=await self._inbox(request, db),
            outcome=OUTCOMES.get(outcome or ""),
            replied=replied,
            form=form or Form(),
        )

    @get("/sms", name="dev_sms")
    async def sms_inbox(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        outcome: FromQuery[str | None] = None,
        replied: FromQuery[str | None] = None,
    ) -> Response[Any]:
        return await self._page(request, db, outcome=outcome, replied=parse_id(replied))

    @post("/sms/{message_id:int}/reply", name="dev_sms_reply", status_code=200)
    async def reply(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        message_id: FromPath[int],
    ) -> Response[Any]:
        """Reply to a text as its recipient would: the same path as Twilio's inbound webhook
        (sms_events.inbound, from = the text's recipient). Then the answer is delivered to the
        dev phone at once, so it is in the inbox when the page comes back."""
        clock, settings = clock_of(request), settings_of(request)
        message = await sms.message(db, message_id)
        if message is None:
            raise NotFoundException("No such text.")
        form = await read_form(request)
        body = form.get("body")
        if not body:
            form.error("body", "Type a reply, for example PAY.")
        elif len(body) > REPLY_MAX:
            form.error("body", f"A reply is at most {REPLY_MAX} characters.")
        if not form.ok:
            return await self._page(request, db, status_code=422, replied=message_id, form=form)
        outcome = await sms_events.inbound(
            db,
            from_number=message.to_e164,
            body=body,
            now=clock.now(),
            reply=reminders.ReplyContext.from_settings(settings, request.app.state.box),
        )
        await db.commit()
        phone = request.app.state.sms
        if isinstance(phone, OutboxSms):
            await deliver_due(request.app.state.sessionmaker, phone, clock, request.app.state.box)
        if is_htmx(request):
            return await self._page(request, db, outcome=outcome, replied=message_id)
        return Redirect(f"/dev/sms?outcome={outcome}&replied={message_id}", status_code=303)
