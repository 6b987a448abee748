"""Request rate limits per client address, with Litestar's rate-limit middleware on the shared
"limits" store (Redis, or files on one machine), so every instance counts together.

- `/pay/...` (the page, the form post, confirm, receipt): a payer loads the page, posts once or
  twice and reads a receipt; the bank-wait page reloads every 5 s. 60 a minute leaves room
  for all of that and stops token guessing at a trickle (a token has 256 random bits anyway).
- `/webhooks/...`: the processor and the SMS provider call from a few addresses, in bursts
  after an outage; 600 a minute. A refused webhook is retried by its sender.

An address is `request.client.host` (web/auth.py: client_address). Behind a proxy it is only
the payer's when the server trusts that proxy's X-Forwarded-For (uvicorn's
FORWARDED_ALLOW_IPS); otherwise every payer shares the proxy's address and its limit.

The counters are read and written without a lock across instances (the store has no atomic
increment), so two instances may each let a request through at the limit: a limit against
floods, not an exact quota. Sign-in throttling needs exactness and lives in the database.
"""

from __future__ import annotations

import math
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
    from litestar.types import Receive, Scope, Send

PAY_PER_MINUTE = 60
WEBHOOKS_PER_MINUTE = 600
STORE = "limits"
LIMITED = ("/pay/", "/webhooks/")  # the prefixes of rate_limits() below


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
            response = errors.http_error(
                request,
                TooManyRequestsException(
                    detail="Too many requests from your connection. "
                    f"Please wait {retry_after} seconds and try again."
                ),
            )
            response.headers["Retry-After"] = str(retry_after)
            response.headers.update(self.create_response_headers(cache_object))
            await response.to_asgi_response(app=None, request=request)(scope, receive, send)
            return
        await self.app(scope, receive, self.create_send_wrapper(send, cache_object))

    async def set_cached_history(self, key: str, cache_object: CacheObject, store: Store) -> None:
        cache_object.history = [int(time()), *cache_object.history]
        expires_in = DURATION_VALUES[self.unit]
        await store_set(store, key, encode_json(cache_object), expires_in=expires_in)


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
    """The middleware entries for `create_app` (PAY_REQUESTS_PER_MINUTE and
    WEBHOOK_REQUESTS_PER_MINUTE; servers under test raise them: a hundred phones there share
    one address)."""
    return [
        _limit("/pay/", settings.pay_requests_per_minute),
        _limit("/webhooks/", settings.webhook_requests_per_minute),
    ]
