"""The embedded SMS provider for dev and tests: "delivers" to an in-memory phone.

What it delivered (the full text, link included) is kept in memory only, newest 500, for
/dev/sms in dev; the database keeps the outbox row with the link token sealed then erased.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from app.adapters.sms.port import SendResult, SmsSendFailed
from app.domain.phone import mask

log = logging.getLogger("monitorpay.sms")


class OutboxSms:
    name = "outbox"

    def __init__(self) -> None:
        self.fail_next = 0  # tests: make the next N sends fail to exercise retries
        self.delivered: OrderedDict[int, str] = OrderedDict()  # message id → text as sent

    async def send(self, *, to_e164: str, body: str, message_id: int) -> SendResult:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise SmsSendFailed("outbox provider told to fail")
        self.delivered[message_id] = body
        while len(self.delivered) > 500:
            self.delivered.popitem(last=False)
        log.info("sms_id=%s to=%s chars=%s event=delivered", message_id, mask(to_e164), len(body))
        return SendResult(provider_ref=f"outbox-{message_id}", status="delivered")
