"""The embedded SMS provider for dev and tests: "delivers" to a pretend phone.

The phone's inbox is the shared key-value store (Redis or files, as sessions), so /dev/sms shows
the full text, link included, whichever app process sent it; texts leave it after an hour. The
database keeps the outbox row with the link token sealed, then erased once sent. `delivered`
also keeps this process's newest 500 texts for tests to read.

Tests make it fail as a real provider does: `fail_next` sends fail before anything is sent,
`lose_next` sends reach the phone but their answer is lost (the worker must find them with
`find_sent`, keyed by our message id, instead of sending twice).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Collection

from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore

from app.adapters.sms.port import Outgoing, SendResult, SmsOutcomeUnknown, SmsUnavailable
from app.domain.phone import mask

log = logging.getLogger("monitorpay.sms")
INBOX_SECONDS = 3600


class OutboxSms:
    name = "outbox"

    def __init__(self, inbox: Store | None = None) -> None:
        self.fail_next = 0  # tests: the next N sends fail, nothing sent (retried)
        self.lose_next = 0  # tests: the next N sends reach the phone, their answer is lost
        self.inbox = inbox or MemoryStore()
        self.delivered: OrderedDict[int, str] = OrderedDict()  # message id → text as sent

    async def send(self, *, to_e164: str, body: str, message_id: int) -> SendResult:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise SmsUnavailable("outbox provider told to fail")
        await self.inbox.set(str(message_id), body, expires_in=INBOX_SECONDS)
        self.delivered[message_id] = body
        while len(self.delivered) > 500:
            self.delivered.popitem(last=False)
        log.info("sms_id=%s to=%s chars=%s event=delivered", message_id, mask(to_e164), len(body))
        if self.lose_next > 0:
            self.lose_next -= 1
            raise SmsOutcomeUnknown("outbox provider told to lose the answer")
        return SendResult(provider_ref=f"outbox-{message_id}", status="delivered")

    async def find_sent(self, text: Outgoing, *, known: Collection[str] = ()) -> SendResult | None:
        """The phone's inbox is keyed by our message id: the text is there or it is not."""
        if await self.text_of(text.message_id) != text.body:
            return None
        return SendResult(provider_ref=f"outbox-{text.message_id}", status="delivered")

    async def text_of(self, message_id: int) -> str | None:
        """The text as the phone got it, while the phone still has it."""
        raw = await self.inbox.get(str(message_id))
        return raw.decode() if raw is not None else None
