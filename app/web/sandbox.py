"""The sandbox's tokenizing endpoint: stands where a processor's hosted card fields post.

Registered only with PAYMENTS_GATEWAY=sandbox. It takes the card fields as JSON from the
browser, returns a payment-method reference, and keeps nothing: the number is not stored,
not logged, not echoed back. CSRF-exempt like a processor's API (it changes no state of ours).
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response, post

from app.adapters.payments.sandbox import CardFieldError, SandboxGateway

log = logging.getLogger("monitorpay.sandbox")
FIELDS = ("number", "exp", "cvc", "postal_code")


@post("/sandbox/payment_methods", name="sandbox_tokenize", status_code=200)
async def tokenize(request: Request[Any, Any, Any]) -> Response[Any]:
    gateway = request.app.state.gateway
    if not isinstance(gateway, SandboxGateway):
        return Response({"error": {"message": "Not found."}}, status_code=404)
    try:
        body = await request.json()
    except Exception:  # noqa: BLE001 - any unreadable body is the caller's problem
        body = None
    if not isinstance(body, dict):
        return Response(
            {"error": {"field": "number", "message": "Enter the card details."}}, status_code=400
        )
    values = {k: str(body.get(k) or "")[:40] for k in FIELDS}
    try:
        ref = gateway.tokenize(**values)
    except CardFieldError as exc:
        return Response({"error": {"field": exc.field, "message": exc.message}}, status_code=400)
    log.info("event=sandbox_tokenized ref=%s", ref)
    return Response({"id": ref, "object": "payment_method"})
