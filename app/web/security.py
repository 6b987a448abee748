"""Response headers every response gets, and the one middleware of every routed request: its
id for logs, its language, strict ids in paths.

The headers are set by an app-level `before_send` hook, not a route middleware: Litestar answers
an unknown path or method in its router, before any route middleware runs, and those answers
(and error pages, and static files) must carry the same headers.
"""

from __future__ import annotations

import logging
import secrets
import time

from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import NotFoundException
from litestar.types import ASGIApp, BeforeMessageSendHookHandler, Message, Receive, Scope, Send

from app import i18n, logs
from app.settings import Settings
from app.web import language

log = logging.getLogger("monitorpay.http")

HSTS = "max-age=31536000; includeSubDomains"
PRIVATE_AREAS = ("/plus", "/account", "/pay", "/dev")


# What Stripe's integration security guide asks of a page's policy for Stripe.js (stripe mode
# only; the sandbox loads none of it): its script and frames from js.stripe.com and its
# subdomains, 3-D Secure from hooks.stripe.com, its calls to api.stripe.com. The guide lists no
# other host for the Payment Element's Apple Pay and Google Pay, so wallets add nothing here.
STRIPE_SCRIPTS = "https://js.stripe.com https://*.js.stripe.com"
STRIPE_FRAMES = "https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com"
STRIPE_API = "https://api.stripe.com"


def content_security_policy(stripe: bool) -> str:
    script_src = "'self'" + (f" {STRIPE_SCRIPTS}" if stripe else "")
    frame_src = STRIPE_FRAMES if stripe else "'none'"
    connect_src = "'self'" + (f" {STRIPE_API}" if stripe else "")
    return (
        f"default-src 'self'; script-src {script_src}; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect_src}; frame-src {frame_src}; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'; object-src 'none'"
    )


NOT_A_DOCUMENT_CSP = "default-src 'none'; frame-ancestors 'none'"


def security_headers(settings: Settings) -> BeforeMessageSendHookHandler:
    """The `before_send` hook: CSP, framing, sniffing and referrer rules on every response,
    HSTS in production, and no caching of private pages."""
    csp = content_security_policy(settings.payments_gateway == "stripe")
    hsts = settings.app_env == "prod"

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        headers.setdefault("x-content-type-options", "nosniff")
        headers.setdefault("x-frame-options", "DENY")
        headers.setdefault("referrer-policy", "same-origin")
        # Documents get the page policy; anything else (CSS, JS, JSON) may load nothing at all.
        html = headers.get("content-type", "").startswith("text/html")
        headers.setdefault("content-security-policy", csp if html else NOT_A_DOCUMENT_CSP)
        if hsts:
            headers.setdefault("strict-transport-security", HSTS)
        request_id = scope.get("state", {}).get("request_id")
        if request_id:
            headers.setdefault("x-request-id", request_id)
        # The raw path: the router rewrites scope["path"] for mounted apps (static files).
        path = scope.get("raw_path", b"").decode("latin-1") or scope.get("path", "")
        if path.startswith(PRIVATE_AREAS):
            headers.setdefault("cache-control", "no-store")
        if path.startswith("/pay/"):
            # A link token must never leak through a Referer header or a search index.
            headers["referrer-policy"] = "no-referrer"
            headers["x-robots-tag"] = "noindex, nofollow"
            headers["cache-control"] = "no-store"

    return add_headers


def loose_path_id(scope: Scope) -> str | None:
    """The name of an `{x:int}` path parameter written other than as plain ASCII digits, or
    None. Litestar converts those with `int()`, which also takes "٣", "+3", " 3", "0_3" and
    "03"; our ids are written one way only, so anything else is not found."""
    template = scope.get("path_template") or ""
    params = scope.get("path_params") or {}
    if "{" not in template or not params:
        return None
    template_parts = template.split("/")
    path_parts = scope.get("path", "").split("/")
    if len(template_parts) != len(path_parts):
        return None  # only a `:path` parameter spans segments, and it is never an id
    for pattern, raw in zip(template_parts, path_parts, strict=True):
        if not (pattern.startswith("{") and pattern.endswith("}")):
            continue
        name = pattern[1:-1].split(":", 1)[0]
        value = params.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0 or raw != str(value):
                return name
    return None


class RequestMiddleware:
    """Per routed request, in one layer: a request id (in scope state, and in the logs' context
    variable so every line written while serving it carries it), the language (web/language.py:
    chosen before anything renders, so error pages from the layers inside speak it), ids in the
    path written strictly, and one log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(6)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 0
        choice = language.choose(scope)

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                choice.headers(message)
            await send(message)

        token = logs.request_id.set(request_id)
        try:
            if loose_path_id(scope) is not None:
                status = 404
                raise NotFoundException()
            await self.app(scope, receive, send_wrapper)
        finally:
            i18n.choose(i18n.DEFAULT)
            logs.request_id.reset(token)
            path = scope.get("path", "")
            if path.startswith("/pay/"):
                path = "/pay/<token>"  # never log a link token
            log.info(
                "request_id=%s method=%s path=%s status=%s ms=%.1f",
                request_id,
                scope.get("method"),
                path,
                status,
                (time.perf_counter() - started) * 1000,
            )
