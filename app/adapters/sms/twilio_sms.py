"""Twilio, through its official SDK (async HTTP client), for production texts.

Delivery reports come back signed to /webhooks/twilio/status, replies (STOP, START, HELP) to
/webhooks/twilio/inbound; `verify` checks Twilio's X-Twilio-Signature on both.

What an answer means. A 201 is a text Twilio took. A 4xx is a refusal: nothing was sent. A 5xx,
a timeout or a connection dropped once the request was out may hide a text Twilio took, so it is
SmsOutcomeUnknown, never "not sent". Each text carries our message id as `sms_id` in its
StatusCallback URL, so Twilio's delivery report names it even when our copy of the answer was
lost; and `find_sent` looks for it in Twilio's message list (filtered by To and From, matched
on the exact text, created no earlier than the text was queued).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from app.adapters.sms.port import (
    DeliveryStatus,
    Outgoing,
    SendResult,
    SmsNotSent,
    SmsOutcomeUnknown,
    SmsUnavailable,
)
from app.domain.phone import mask

log = logging.getLogger("monitorpay.sms")

# Twilio errors no retry can fix: the recipient unsubscribed (STOP), a number that cannot get
# texts, a landline.
PERMANENT = {21610, 21211, 21614, 21408, 21612}
# Twilio's status of a text it holds → ours. Everything else (accepted, queued, sending, sent…)
# means it took the text: "sent".
FOUND_STATUS: dict[str, DeliveryStatus] = {
    "delivered": "delivered",
    "undelivered": "failed",
    "failed": "failed",
}
# How many of the recipient's newest texts from our number a lookup reads; and how far before
# the queued time a Twilio timestamp may be (clocks differ) and still be this text.
LOOKUP_LIMIT = 100
CLOCK_SKEW = timedelta(minutes=5)


class TwilioSms:
    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        status_callback: str | None = None,
        api_base: str = "",
        timeout: float = 15.0,
    ) -> None:
        self._sid, self._token, self._api_base = account_sid, auth_token, api_base
        # The SDK's async HTTP client opens an aiohttp session at once, which needs a running
        # event loop: made on first send, inside the server's loop, not at app build time.
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None
        self._from = from_number
        self._callback = status_callback
        # The SDK's async client keeps its `timeout` but never passes it to aiohttp (whose
        # default waits 5 minutes): each call is bounded here instead.
        self._timeout = timeout
        self._validator = RequestValidator(auth_token)

    def _twilio(self) -> Client:
        if self._client is None:
            self._http = AsyncTwilioHttpClient(timeout=self._timeout)
            self._client = Client(self._sid, self._token, http_client=self._http)
            if self._api_base:  # tests point the SDK at a fake Twilio on 127.0.0.1
                self._client.api.base_url = self._api_base.rstrip("/")
        return self._client

    def _callback_for(self, message_id: int) -> dict[str, str]:
        if not self._callback:
            return {}
        joiner = "&" if "?" in self._callback else "?"
        return {"status_callback": f"{self._callback}{joiner}sms_id={message_id}"}

    async def send(self, *, to_e164: str, body: str, message_id: int) -> SendResult:
        try:
            async with asyncio.timeout(self._timeout):
                message = await self._twilio().messages.create_async(
                    to=to_e164, from_=self._from, body=body, **self._callback_for(message_id)
                )
        except Exception as exc:  # noqa: BLE001 - every failure is classified, none is lost
            raise _send_error(exc, message_id, to_e164) from None
        log.info("sms_id=%s to=%s sid=%s event=sent", message_id, mask(to_e164), message.sid)
        return SendResult(provider_ref=str(message.sid), status="sent")

    async def find_sent(self, text: Outgoing, *, known: Collection[str] = ()) -> SendResult | None:
        try:
            async with asyncio.timeout(self._timeout):
                candidates = await self._twilio().messages.list_async(
                    to=text.to_e164, from_=self._from, limit=LOOKUP_LIMIT
                )
        except Exception as exc:  # noqa: BLE001 - a lookup that failed found nothing yet
            log.warning(
                "sms_id=%s event=twilio_lookup_failed error=%s", text.message_id, _name(exc)
            )
            raise SmsUnavailable("Twilio could not be asked about the text.") from None
        for found in candidates:
            if _is_it(found, text, known):
                status = FOUND_STATUS.get(str(found.status), "sent")
                log.info("sms_id=%s sid=%s event=twilio_found", text.message_id, found.sid)
                return SendResult(provider_ref=str(found.sid), status=status)
        log.info("sms_id=%s looked=%s event=twilio_not_found", text.message_id, len(candidates))
        return None

    def verify(self, url: str, params: Mapping[str, str], signature: str) -> bool:
        """Is this callback really from Twilio (signed with our auth token)?"""
        return bool(signature) and bool(self._validator.validate(url, dict(params), signature))

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = self._client = None


def _is_it(found: Any, text: Outgoing, known: Collection[str]) -> bool:
    """Twilio's message is our text: outbound, the same text, not one we already matched to
    another of our texts, and created after ours was queued."""
    created = found.date_created
    return (
        str(found.direction or "").startswith("outbound")
        and found.body == text.body
        and found.sid not in known
        and (created is None or created >= text.since - CLOCK_SKEW)
    )


def _send_error(exc: Exception, message_id: int, to_e164: str) -> Exception:
    """A failed create as the port's error: refused (4xx), not reached (the connection was
    never made), else unknown (5xx, timeout, reset, an answer we could not read)."""
    if isinstance(exc, TwilioRestException) and exc.status < 500:
        permanent = exc.code in PERMANENT
        log.warning(
            "sms_id=%s to=%s status=%s code=%s permanent=%s event=twilio_refused",
            message_id,
            mask(to_e164),
            exc.status,
            exc.code,
            permanent,
        )
        return SmsNotSent(f"Twilio refused the text (error {exc.code}).", permanent=permanent)
    if isinstance(exc, aiohttp.ClientConnectorError):  # no connection: the request never left
        log.warning("sms_id=%s event=twilio_unreachable error=%s", message_id, _name(exc))
        return SmsUnavailable("Twilio could not be reached.")
    status = exc.status if isinstance(exc, TwilioRestException) else None
    log.warning(
        "sms_id=%s event=twilio_outcome_unknown error=%s status=%s",
        message_id,
        _name(exc),
        status,
    )
    return SmsOutcomeUnknown(f"Twilio's answer was lost ({_name(exc)}); looking it up.")


def _name(exc: BaseException) -> str:
    return type(exc).__name__
