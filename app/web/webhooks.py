"""Processor webhooks. CSRF-exempt by design: authenticity comes from the signature."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response, post

from app.domain.errors import DomainError
from app.services.webhooks import handle_stripe_event
from app.web.deps import ClockDep, SettingsDep

log = logging.getLogger("monitorpay.webhooks")


@post("/webhooks/stripe", name="stripe_webhook", status_code=200)
async def stripe_webhook(
    request: Request[Any, Any, Any], clock: ClockDep, settings: SettingsDep
) -> Response[Any]:
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
