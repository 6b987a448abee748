"""Choose the SMS provider from SMS_PROVIDER."""

from __future__ import annotations

from app.adapters.sms.outbox import OutboxSms
from app.adapters.sms.port import SmsProvider
from app.settings import Settings
from app.store.kv import make_store


def make_sms_provider(settings: Settings) -> SmsProvider:
    if settings.sms_provider == "twilio":
        from app.adapters.sms.twilio_sms import TwilioSms

        return TwilioSms(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from_number,
            status_callback=f"{settings.base_url}/webhooks/twilio/status",
            api_base=settings.twilio_api_base,
        )
    return OutboxSms(make_store(settings).with_namespace("devphone"))
