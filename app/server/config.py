"""The app's configs, each in one place: sessions, CSRF, templates, compression, the middleware
in its order, the request-scoped dependencies, the exception handlers and the stores."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.stores.base import NamespacedStore, Store
from litestar.template.config import TemplateConfig
from litestar.types import ExceptionHandlersMap, Middleware
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.settings import Settings
from app.store import staff_versions
from app.web import deps, errors, limits, metrics, sessions, static_assets, templating
from app.web.security import RequestMiddleware

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
# Probes and scrapes: no session loaded or cookie set, no CSRF cookie.
UNSESSIONED = ("^/healthz$", "^/readyz$", f"^{metrics.PATH}$")


def session_config(settings: Settings) -> sessions.SessionConfig:
    """Server-side: the cookie holds only a random id; the data is in the shared "sessions"
    store."""
    return sessions.SessionConfig(
        key=sessions.COOKIE,
        max_age=settings.session_max_age_seconds,
        httponly=True,
        secure=settings.app_env == "prod",
        samesite="lax",
        store="sessions",
        exclude=["^/static/", *UNSESSIONED],
        staff_version_prefix=staff_versions.KEY_PREFIX,
    )


def csrf_config(settings: Settings) -> CSRFConfig:
    return CSRFConfig(
        secret=settings.csrf_secret,
        cookie_name="mp_csrf",
        header_name="x-csrftoken",
        cookie_secure=settings.app_env == "prod",
        cookie_samesite="lax",
        exclude=["^/webhooks/", "^/sandbox/", *UNSESSIONED],  # signed / sandbox-only / no forms
    )


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(
        directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=templating.configure
    )


def compression_config() -> CompressionConfig:
    """Brotli for browsers (all current ones), gzip for the rest; static files come compressed
    already. Below a kilobyte a response fits one packet either way."""
    return CompressionConfig(
        backend="brotli",
        brotli_gzip_fallback=True,
        gzip_compress_level=6,
        minimum_size=1024,
        exclude_opt_key=static_assets.PRECOMPRESSED,
    )


def middleware(settings: Settings) -> Sequence[Middleware]:
    """Outermost first."""
    return [
        metrics.prometheus_config().middleware,  # outermost: every answer counted and timed
        # One layer: the request id (on every log line written while serving it), the language
        # (error pages from the layers inside speak it), strict path ids, the access log line.
        RequestMiddleware,
        *limits.rate_limits(settings),  # before the session: a refused request reads nothing
        session_config(settings).middleware,
        errors.RetryDroppedReads,  # inside the session: a second run starts from its copy
    ]


DEPENDENCIES: dict[str, Provide] = {
    "db": Provide(deps.provide_db),
    "staff": Provide(deps.provide_staff),
    "me": Provide(deps.provide_client_user),
}

EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    deps.LoginRequired: errors.login_required,
    HTTPException: errors.http_error,
    PoolTimeout: errors.busy,
    Exception: errors.server_error,
}


def stores(kv: NamespacedStore) -> dict[str, Store]:
    return {"sessions": kv.with_namespace("sessions"), "limits": kv.with_namespace("limits")}
