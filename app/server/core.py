"""The plugin that registers everything on the app (litestar-fullstack's ApplicationCore): the
resources in the app's state, the routes, dependencies, middleware and configs, the lifespan."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from app.server import config
from app.server.lifespan import lifespan
from app.server.resources import Resources
from app.server.routes import route_handlers
from app.web.security import security_headers


class ApplicationCore(InitPluginProtocol):
    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        res = self.resources
        settings = res.settings
        app_config.state = res.state()
        app_config.route_handlers.extend(route_handlers(settings))
        app_config.dependencies.update(config.DEPENDENCIES)
        app_config.middleware.extend(config.middleware(settings))
        app_config.before_send.append(security_headers(settings))  # every response, 404s too
        app_config.csrf_config = config.csrf_config(settings)
        app_config.template_config = config.template_config()
        app_config.compression_config = config.compression_config()
        app_config.exception_handlers.update(config.EXCEPTION_HANDLERS)
        app_config.lifespan.append(lifespan(res))
        app_config.stores = config.stores(res.kv)
        return app_config
