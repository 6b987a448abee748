"""Request rate limits, on the shared "limits" store (Redis, or files on one machine), so every
instance counts together.

- `/pay/{token}...`: limits that stop attackers, not payers. Carrier-grade NAT puts thousands of
  phones behind one address, so a payer is never limited by address for a link that exists:
  - guessing: answers "not found" (an unknown or malformed token) are counted per address;
    past PAY_MISSES_PER_MINUTE an address is refused any link not seen working before.
  - use: each link (known by its token's hash, never the token) takes
    PAY_REQUESTS_PER_MINUTE requests a minute from everyone together: a payer loads the page,
    posts once or twice and reads a receipt; the bank-wait page reloads every 5 s.
- `/webhooks/...`: the processor and the SMS provider call from a few addresses, in bursts
  after an outage; 600 a minute per address. A refused webhook is retried by its sender.

An address is `request.client.host` (web/auth.py: client_address). Behind a proxy it is only
the payer's when the server trusts that proxy's X-Forwarded-For (uvicorn's
FORWARDED_ALLOW_IPS); otherwise every payer shares the proxy's address.

The counters are read and written without a lock across instances (the store has no atomic
increment), so two instances may each let a request through at the limit: a limit against
floods, not an exact quota. Sign-in throttling needs exactness and lives in the database.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from time import time
from typing import TYPE_CHECKING, Any

from litestar.exceptions import TooManyRequestsException
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.rate_limit import (
    DURATION_VALUES,
    CacheObject,
    RateLimitConfig,
    RateLimitMiddleware,
)
from litestar.serialization import encode_json

from app.settings import Settings
from app.web import errors
from app.web.auth import client_address
from app.web.sessions import store_set

if TYPE_CHECKING:
    from litestar import Request
    from litestar.stores.base import Store
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

PAY_PER_MINUTE = 60
PAY_MISSES_PER_MINUTE = 30
WEBHOOKS_PER_MINUTE = 600
STORE = "limits"
LIMITED = ("/webhooks/",)  # the prefixes of the generic limits in rate_limits() below
WINDOW_SECONDS = 60
# How long a link counts as "seen working" for an address over its guessing limit: longer
# than a link lives (10 minutes), so its payer is never refused for a neighbour's guessing.
KNOWN_LINK_SECONDS = 3600
TOO_MANY = "Too many requests from your connection. Please wait {seconds} seconds and try again."


class RateLimitPage(RateLimitMiddleware):
    """Litestar's middleware, answering past the limit with the app's error page and a
    `Retry-After` header (raised as an exception, the headers would be dropped by the page)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not scope.get("path", "").startswith(LIMITED):  # most requests: no Request built
            await self.app(scope, receive, send)
            return
        app = scope["litestar_app"]
        request: Request[Any, Any, Any] = app.request_class(scope)
        if not await self.should_check_request(request=request):
            await self.app(scope, receive, send)
            return
        store = self.config.get_store_from_app(app)
        key = self.cache_key_from_request(request)
        async with self._lock:
            cache_object = await self.retrieve_cached_history(key, store)
            refused = len(cache_object.history) >= self.max_requests
            if not refused:
                await self.set_cached_history(key=key, cache_object=cache_object, store=store)
        if refused:
            retry_after = max(1, math.ceil(cache_object.reset - time()))
            headers = self.create_response_headers(cache_object)
            await _refuse(request, retry_after, headers, scope, receive, send)
            return
        await self.app(scope, receive, self.create_send_wrapper(send, cache_object))

    async def set_cached_history(self, key: str, cache_object: CacheObject, store: Store) -> None:
        cache_object.history = [int(time()), *cache_object.history]
        expires_in = DURATION_VALUES[self.unit]
        await store_set(store, key, encode_json(cache_object), expires_in=expires_in)


async def _refuse(
    request: Request[Any, Any, Any],
    retry_after: int,
    headers: dict[str, str],
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """The app's error page, 429, with `Retry-After` (raised as an exception, the headers
    would be dropped by the page)."""
    response = errors.http_error(
        request, TooManyRequestsException(detail=TOO_MANY.format(seconds=retry_after))
    )
    response.headers["Retry-After"] = str(retry_after)
    response.headers.update(headers)
    await response.to_asgi_response(app=None, request=request)(scope, receive, send)


@dataclass
class Window:
    """The times (whole seconds) of the requests counted in the last minute."""

    times: list[int] = field(default_factory=list)

    @classmethod
    async def load(cls, store: Store, key: str, now: int) -> Window | None:
        raw = await store.get(key)
        if raw is None:
            return None
        return cls([t for t in json.loads(raw) if t > now - WINDOW_SECONDS])

    def full(self, limit: int) -> bool:
        return len(self.times) >= limit

    def retry_after(self, now: int) -> int:
        return max(1, min(self.times) + WINDOW_SECONDS - now) if self.times else 1

    async def count(self, store: Store, key: str, now: int, keep_seconds: int) -> None:
        self.times.append(now)
        await store_set(store, key, json.dumps(self.times), expires_in=keep_seconds)


def _link_key(path: str) -> str:
    """The link a /pay/ address names, by its token's hash (the token itself is never kept)."""
    token = path.removeprefix("/pay/").split("/", 1)[0]
    return "pay-link:" + hashlib.sha256(token.encode()).hexdigest()[:32]


class PayLimits:
    """`/pay/...`: per link for links that exist, per address for guesses (see the module)."""

    def __init__(self, app: ASGIApp, *, per_link: int, misses: int) -> None:
        self.app, self.per_link, self.misses = app, per_link, misses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/pay/"):
            await self.app(scope, receive, send)
            return
        app = scope["litestar_app"]
        store = app.stores.get(STORE)
        request: Request[Any, Any, Any] = app.request_class(scope)
        now = int(time())
        link_key = _link_key(request.url.path)
        miss_key = "pay-miss:" + client_address(request)
        link = await Window.load(store, link_key, now)
        # A link seen working is limited by its use; anything else by its address's guesses.
        misses = None if link is not None else await Window.load(store, miss_key, now)
        window, limit = (link, self.per_link) if link is not None else (misses, self.misses)
        if window is not None and window.full(limit):
            headers = {"RateLimit-Limit": str(limit)}
            await _refuse(request, window.retry_after(now), headers, scope, receive, send)
            return
        status = await _status_of(self.app, scope, receive, send)
        if status == 404:  # an unknown or malformed token: a guess
            await (misses or Window()).count(store, miss_key, now, WINDOW_SECONDS)
        else:
            await (link or Window()).count(store, link_key, now, KNOWN_LINK_SECONDS)


async def _status_of(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> int:
    """Run the app, passing its answer on; returns the answer's status."""
    seen = {"status": 0}

    async def watch(message: Message) -> None:
        if message["type"] == "http.response.start":
            seen["status"] = int(message["status"])
        await send(message)

    await app(scope, receive, watch)
    return seen["status"]


def _limit(prefix: str, per_minute: int) -> DefineMiddleware:
    def applies(request: Request[Any, Any, Any]) -> bool:
        return request.url.path.startswith(prefix)

    def identifier(request: Request[Any, Any, Any]) -> str:
        return f"{prefix.strip('/')}:{client_address(request)}"

    return RateLimitConfig(
        rate_limit=("minute", per_minute),
        check_throttle_handler=applies,
        identifier_for_request=identifier,
        middleware_class=RateLimitPage,
        store=STORE,
    ).middleware


def rate_limits(settings: Settings) -> list[DefineMiddleware]:
    """The middleware entries for `create_app` (PAY_REQUESTS_PER_MINUTE per link,
    PAY_MISSES_PER_MINUTE and WEBHOOK_REQUESTS_PER_MINUTE per address)."""
    return [
        DefineMiddleware(
            PayLimits,
            per_link=settings.pay_requests_per_minute,
            misses=settings.pay_misses_per_minute,
        ),
        _limit("/webhooks/", settings.webhook_requests_per_minute),
    ]
