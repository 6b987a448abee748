"""Processor webhooks. CSRF-exempt by design: authenticity comes from the signature."""

from __future__ import annotations

import logging
import re
from html import escape
from typing import Any

from litestar import Request, Response, post

from app.domain.errors import DomainError
from app.domain.numbers import parse_id
from app.services import reminders, sms_events
from app.services.webhooks import handle_stripe_event
from app.web.deps import Db, clock_of, settings_of

log = logging.getLogger("monitorpay.webhooks")
# Twilio's id of a message: two letters ("SM", "MM") and 32 hex digits; nothing else is a key.
MESSAGE_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")


@post("/webhooks/stripe", name="stripe_webhook", status_code=200)
async def stripe_webhook(request: Request[Any, Any, Any]) -> Response[Any]:
    clock, settings = clock_of(request), settings_of(request)
    gateway = request.app.state.gateway
    verify = getattr(gateway, "verify_webhook", None)
    if settings.payments_gateway != "stripe" or verify is None:
        return Response({"error": "not found"}, status_code=404)
    payload = await request.body()
    try:
        event = verify(payload, request.headers.get("stripe-signature", ""))
    except DomainError:
        log.warning("event=webhook_bad_signature")
        return Response({"error": "bad signature"}, status_code=400)
    done = await handle_stripe_event(
        request.app.state.sessionmaker, gateway, clock, event, settings.company_name
    )
    log.info("event_id=%s type=%s result=%s", event.get("id"), event.get("type"), done)
    return Response({"received": True, "result": done})


async def _twilio_form(
    request: Request[Any, Any, Any], settings: Any
) -> tuple[dict[str, str], Response[Any] | None]:
    """The callback's fields once its X-Twilio-Signature checks out; else the refusal."""
    provider = request.app.state.sms
    verify = getattr(provider, "verify", None)
    if settings.sms_provider != "twilio" or verify is None:
        return {}, Response({"error": "not found"}, status_code=404)
    form = {k: str(v) for k, v in (await request.form()).items()}
    url = settings.base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if not verify(url, form, request.headers.get("x-twilio-signature", "")):
        log.warning("event=twilio_bad_signature path=%s", request.url.path)
        return {}, Response({"error": "bad signature"}, status_code=403)
    return form, None


@post("/webhooks/twilio/status", name="twilio_status", status_code=200)
async def twilio_status(request: Request[Any, Any, Any], db: Db) -> Response[Any]:
    clock, settings = clock_of(request), settings_of(request)
    form, refused = await _twilio_form(request, settings)
    if refused is not None:
        return refused
    done = await sms_events.delivery_report(
        db,
        provider_ref=form.get("MessageSid", ""),
        provider_status=form.get("MessageStatus", ""),
        now=clock.now(),
        message_id=parse_id(request.query_params.get("sms_id")),  # ours, in the signed URL
    )
    return Response({"received": True, "result": done})


@post("/webhooks/twilio/inbound", name="twilio_inbound", status_code=200)
async def twilio_inbound(request: Request[Any, Any, Any], db: Db) -> Response[Any]:
    """Replies to our texts. Twilio answers STOP/START itself; we record the choice, and
    answer HELP with who we are. A PAY's answer (a link, or why not) goes out through the
    outbox like every other text, not in this response."""
    clock, settings = clock_of(request), settings_of(request)
    form, refused = await _twilio_form(request, settings)
    if refused is not None:
        return refused
    # A text Twilio delivers again (it did not hear our 200) is answered once, by its id.
    sid = form.get("MessageSid", "")
    word = await sms_events.inbound(
        db,
        from_number=form.get("From", ""),
        body=form.get("Body", ""),
        now=clock.now(),
        reply=reminders.ReplyContext.from_settings(settings, request.app.state.box),
        event_id=f"twilio:{sid}" if MESSAGE_SID.fullmatch(sid) else "",
    )
    reply = ""
    if word == "help":
        reply = await sms_events.help_reply(
            db,
            from_number=form.get("From", ""),
            body=form.get("Body", ""),
            company=settings.company_name,
            support_phone=settings.support_phone,
        )
    twiml = f"<Response><Message>{escape(reply)}</Message></Response>" if reply else "<Response/>"
    return Response(f'<?xml version="1.0" encoding="UTF-8"?>{twiml}', media_type="application/xml")
