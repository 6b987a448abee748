"""The sandbox's tokenizing endpoint: stands where a processor's hosted card fields post.

Registered only with PAYMENTS_GATEWAY=sandbox. It takes the card fields as JSON from the
browser, returns a payment-method reference, and keeps nothing: the number is not stored,
not logged, not echoed back. CSRF-exempt like a processor's API (it changes no state of ours).
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from app.adapters.payments.sandbox import CardFieldError, SandboxGateway
from app.web.render import render

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


def _return_to(request: Request[Any, Any, Any]) -> str:
    """Back to our own page only (never an open redirect)."""
    target = request.query_params.get("return_to", "")
    return target if target.startswith(("/pay/", "/account/")) and "//" not in target else "/"


@get("/sandbox/challenge/{intent:str}", name="sandbox_challenge")
async def challenge(request: Request[Any, Any, Any], intent: FromPath[str]) -> Response[Any]:
    """The payer's bank asking for 3-D Secure (test mode): Complete or Fail. Closing this page
    abandons the payment; reconcile cancels it."""
    gateway = request.app.state.gateway
    waiting = gateway.challenge(intent) if isinstance(gateway, SandboxGateway) else None
    if waiting is None:
        return Redirect(_return_to(request), status_code=303)
    return render(
        "sandbox/challenge.html",
        intent=intent,
        amount_cents=waiting.amount_cents,
        card=waiting.card,
        return_to=_return_to(request),
    )


@post("/sandbox/challenge/{intent:str}", name="sandbox_challenge_answer", status_code=303)
async def challenge_answer(request: Request[Any, Any, Any], intent: FromPath[str]) -> Response[Any]:
    gateway = request.app.state.gateway
    form = await request.form()
    if isinstance(gateway, SandboxGateway) and gateway.challenge(intent) is not None:
        if form.get("answer") == "complete":
            gateway.complete_challenge(intent)
        else:
            gateway.fail_challenge(intent)
        log.info("event=sandbox_challenge intent=%s answer=%s", intent, form.get("answer"))
    return Redirect(_return_to(request), status_code=303)
