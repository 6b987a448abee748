"""Turn exceptions into pages: login redirects, clear 4xx pages, 503s when the database is busy
or its connection was lost (a GET lost that way runs once more first: `RetryDroppedReads`), and
logged 500s for the rest."""

from __future__ import annotations

import copy
import logging
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.response import Redirect
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.i18n import gettext as _
from app.web import language
from app.web.deps import LoginRequired, connection_gone
from app.web.forms import is_htmx
from app.web.render import render

log = logging.getLogger("monitorpay.errors")

RETRY_AFTER_SECONDS = 2
READS = frozenset({"GET", "HEAD"})
# Scope state between `RetryDroppedReads` and `server_error`: a second run is on offer / wanted.
_RETRY_OFFERED, _RETRY_WANTED = "dropped_read_retry_offered", "dropped_read_retry_wanted"


def _request_id(request: Request[Any, Any, Any]) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


def login_required(request: Request[Any, Any, Any], exc: LoginRequired) -> Response[Any]:
    target = f"/{exc.area}/login"
    if request.method == "GET" and not is_htmx(request):
        target += "?next=" + quote(request.url.path)
        return Redirect(target, status_code=303)
    if is_htmx(request):
        return Response(content="", status_code=401, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    language.choose_unless_chosen(request.scope)  # an unknown path never met the middleware
    status = exc.status_code
    if isinstance(exc, PermissionDeniedException) and "CSRF" in str(exc.detail):
        title = _("This form has expired")
        message = _(
            "For your security the form could not be accepted. Go back, reload the page and "
            "try again."
        )
    elif isinstance(exc, NotFoundException) or status == 404:
        title = _("Page not found")
        message = _("We could not find that page. Check the address and try again.")
    elif status == 403:
        title = _("Not allowed")
        message = _(exc.detail) if exc.detail else _("You are not allowed to do that.")
    elif status == 405:
        title = _("Not allowed")
        message = _("That action is not available here.")
    else:
        title = _("Something is not right")
        message = _(exc.detail) if status < 500 else _("Please try again in a moment.")
    template = "errors/_error.html" if is_htmx(request) else "errors/error.html"
    return render(
        template,
        status_code=status,
        title=title,
        message=message,
        status=status,
        request_id=_request_id(request),
    )


def _id_out_of_range(exc: Exception) -> bool:
    """A number in the URL too large to be any id of ours: both drivers fail on it with an
    OverflowError (SQLite directly; asyncpg beneath its DataError). That record does not exist."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OverflowError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def busy(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The database pool stayed exhausted past its timeout: answer at once, never hang."""
    log.warning("request_id=%s event=pool_exhausted", _request_id(request))
    return unavailable(request)


def unavailable(request: Request[Any, Any, Any]) -> Response[Any]:
    """503 in the reader's language with Retry-After: the database is busy or was out of reach
    for a moment. Nothing is lost by asking again; a payer is told to look before paying."""
    template = "errors/_error.html" if is_htmx(request) else "errors/error.html"
    response = render(
        template,
        status_code=503,
        title=_("We're very busy right now"),
        message=_(
            "Please try again in a few seconds. If you were making a payment, reload the "
            "page first to see whether it went through."
        ),
        status=503,
        request_id=_request_id(request),
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _dropped_connection(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The database connection was lost mid-request (the pool has discarded it). A read asks
    `RetryDroppedReads` for a second run, and this answer is dropped; otherwise 503."""
    state = request.scope.setdefault("state", {})
    again = state.get(_RETRY_OFFERED) is True
    state[_RETRY_WANTED] = again
    log.warning(
        "request_id=%s event=db_connection_lost method=%s retry=%s error=%s",
        _request_id(request),
        request.method,
        again,
        type(exc).__name__,
    )
    return unavailable(request)


class RetryDroppedReads:
    """A GET or HEAD whose database connection was lost runs once more, on a fresh connection
    (the pool has discarded the lost one). Reads only: a POST is never run twice, whatever
    failed. Sits inside the session middleware; the session is put back as it came in, so the
    second run sees what the first one did."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in READS:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})  # type: ignore[typeddict-item]
        state[_RETRY_OFFERED] = True
        session = copy.deepcopy(scope.get("session"))

        async def unless_retried(message: Message) -> None:
            if not state.get(_RETRY_WANTED):  # else the first run's 503 is not sent
                await send(message)

        await self.app(scope, receive, unless_retried)
        if not state.pop(_RETRY_WANTED, False):
            return
        state[_RETRY_OFFERED] = False
        scope["session"] = session  # type: ignore[typeddict-unknown-key]
        await self.app(scope, receive, send)


def server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if _id_out_of_range(exc):
        return http_error(request, NotFoundException())
    if connection_gone(exc):
        return _dropped_connection(request, exc)
    request_id = _request_id(request)
    log.exception("request_id=%s unhandled error on %s", request_id, request.method)
    template = "errors/_error.html" if is_htmx(request) else "errors/error.html"
    return render(
        template,
        status_code=500,
        title=_("Something went wrong on our side"),
        message=_(
            "If you were making a payment, don't pay again yet: reload the page in a "
            "minute to see whether it went through. If this keeps happening, tell support the "
            "reference %(reference)s.",
            reference=request_id,
        ),
        status=500,
        request_id=request_id,
    )
