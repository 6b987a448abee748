"""Twilio, through its official SDK (async HTTP client), for production texts.

Delivery reports come back signed to /webhooks/twilio/status, replies (STOP, START, HELP) to
/webhooks/twilio/inbound; `verify` checks Twilio's X-Twilio-Signature on both.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from app.adapters.sms.port import SendResult, SmsSendFailed
from app.domain.phone import mask

log = logging.getLogger("monitorpay.sms")

# Twilio errors no retry can fix: the recipient unsubscribed (STOP), a number that cannot get
# texts, a landline.
PERMANENT = {21610, 21211, 21614, 21408, 21612}


class TwilioSms:
    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        status_callback: str | None = None,
        api_base: str = "",
    ) -> None:
        self._sid, self._token, self._api_base = account_sid, auth_token, api_base
        # The SDK's async HTTP client opens an aiohttp session at once, which needs a running
        # event loop: made on first send, inside the server's loop, not at app build time.
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None
        self._from = from_number
        self._callback = status_callback
        self._validator = RequestValidator(auth_token)

    def _twilio(self) -> Client:
        if self._client is None:
            self._http = AsyncTwilioHttpClient(timeout=15)
            self._client = Client(self._sid, self._token, http_client=self._http)
            if self._api_base:  # tests point the SDK at a fake Twilio on 127.0.0.1
                self._client.api.base_url = self._api_base.rstrip("/")
        return self._client

    async def send(self, *, to_e164: str, body: str, message_id: int) -> SendResult:
        try:
            message = await self._twilio().messages.create_async(
                to=to_e164,
                from_=self._from,
                body=body,
                **({"status_callback": self._callback} if self._callback else {}),
            )
        except TwilioRestException as exc:
            permanent = exc.code in PERMANENT
            log.warning(
                "sms_id=%s to=%s code=%s permanent=%s event=twilio_refused",
                message_id,
                mask(to_e164),
                exc.code,
                permanent,
            )
            raise SmsSendFailed(
                f"Twilio refused the text (error {exc.code}).", permanent=permanent
            ) from None
        except (TimeoutError, OSError) as exc:
            log.warning(
                "sms_id=%s event=twilio_unreachable error=%s", message_id, type(exc).__name__
            )
            raise SmsSendFailed("Twilio could not be reached.") from None
        except Exception as exc:  # aiohttp's errors and the like: retry later
            log.warning("sms_id=%s event=twilio_error error=%s", message_id, type(exc).__name__)
            raise SmsSendFailed("Twilio could not be reached.") from None
        log.info("sms_id=%s to=%s sid=%s event=sent", message_id, mask(to_e164), message.sid)
        return SendResult(provider_ref=str(message.sid), status="sent")

    def verify(self, url: str, params: Mapping[str, str], signature: str) -> bool:
        """Is this callback really from Twilio (signed with our auth token)?"""
        return bool(signature) and bool(self._validator.validate(url, dict(params), signature))

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = self._client = None
