"""Response headers every page gets, and a request id for logs."""

from __future__ import annotations

import logging
import secrets
import time

from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("monitorpay.http")


def security_headers_middleware(stripe: bool) -> type:
    script_src = "'self'" + (" https://js.stripe.com" if stripe else "")
    frame_src = "https://js.stripe.com https://hooks.stripe.com" if stripe else "'none'"
    connect_src = "'self'" + (" https://api.stripe.com" if stripe else "")
    csp = (
        f"default-src 'self'; script-src {script_src}; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect_src}; frame-src {frame_src}; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'; object-src 'none'"
    )

    class SecurityHeaders:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await self.app(scope, receive, send)
                return
            request_id = secrets.token_hex(6)
            scope.setdefault("state", {})["request_id"] = request_id
            started = time.perf_counter()
            status_holder = {"status": 0}

            async def send_wrapper(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status_holder["status"] = message["status"]
                    headers = MutableScopeHeaders.from_message(message)
                    headers.setdefault("x-content-type-options", "nosniff")
                    headers.setdefault("x-frame-options", "DENY")
                    headers.setdefault("referrer-policy", "same-origin")
                    headers.setdefault("content-security-policy", csp)
                    headers.setdefault("x-request-id", request_id)
                    path = scope.get("path", "")
                    if path.startswith(("/plus", "/account", "/pay", "/dev")):
                        headers.setdefault("cache-control", "no-store")
                    if path.startswith("/pay/"):
                        # A link token must never leak through a Referer header or a search index.
                        headers["referrer-policy"] = "no-referrer"
                        headers["x-robots-tag"] = "noindex, nofollow"
                        headers["cache-control"] = "no-store"
                await send(message)

            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                path = scope.get("path", "")
                if path.startswith("/pay/"):
                    path = "/pay/<token>"  # never log a link token
                log.info(
                    "request_id=%s method=%s path=%s status=%s ms=%.1f",
                    request_id,
                    scope.get("method"),
                    path,
                    status_holder["status"],
                    (time.perf_counter() - started) * 1000,
                )

    return SecurityHeaders
