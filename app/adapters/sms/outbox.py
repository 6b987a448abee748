"""The embedded SMS provider: the outbox row is the message. Shown at /dev/sms in dev."""

from __future__ import annotations

import logging

from app.adapters.sms.port import SendResult, SmsSendFailed
from app.domain.phone import mask

log = logging.getLogger("monitorpay.sms")


class OutboxSms:
    name = "outbox"

    def __init__(self) -> None:
        self.fail_next = 0  # tests: make the next N sends fail to exercise retries

    async def send(self, *, to_e164: str, body: str, message_id: int) -> SendResult:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise SmsSendFailed("outbox provider told to fail")
        log.info("sms_id=%s to=%s chars=%s event=delivered", message_id, mask(to_e164), len(body))
        return SendResult(provider_ref=f"outbox-{message_id}", status="delivered")


def make_sms_provider(name: str) -> OutboxSms:
    if name == "outbox":
        return OutboxSms()
    raise ValueError(f"SMS provider {name!r} is not available in this build")
