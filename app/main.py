"""The app factory: settings and clock in, the app out. What it is wired from lives in
app/server/: resources, lifespan (background schedules), config, routes, and the plugin that
registers them (core)."""

from __future__ import annotations

from litestar import Litestar

from app.clock import Clock, SystemClock
from app.logs import configure_logging as configure_logging  # cli.py imports it from here
from app.server.core import ApplicationCore
from app.server.resources import open_resources
from app.settings import Settings


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Litestar:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    resources = open_resources(settings, clock or SystemClock())
    return Litestar(
        plugins=[ApplicationCore(resources)],
        logging_config=None,  # configure_logging above: our format and LOG_LEVEL
        openapi_config=None,  # an HTML app: no API schema to publish, in any environment
        debug=False,
    )
