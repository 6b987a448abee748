"""/metrics in Prometheus' text format, through Litestar's Prometheus support.

- HTTP: Litestar's PrometheusMiddleware counts requests and times them by method, route
  template (`group_path`: `/pay/{token:str}`, never a link token) and status.
- Money: gauges computed at each scrape from the database (store/metrics_queries), so every
  instance answers the same and a restart loses nothing.
- Reconcile: counters of the process that answers (services/runs).

In production the endpoint answers only `Authorization: Bearer <METRICS_TOKEN>` and is not
found otherwise (or when no token is set); in development it is open. It is outside the rate
limits, CSRF and sessions (main.py), so a scrape costs the few reads below.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from litestar import Request, get
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.response import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.disputes import OPEN as OPEN_DISPUTES
from app.domain.payment_states import UNRESOLVED
from app.settings import Settings
from app.store.metrics_queries import TEXTS_COUNTED, MoneyFigures, money_figures
from app.web.deps import Db, clock_of, settings_of

PATH = "/metrics"
log = logging.getLogger("monitorpay.metrics")


def prometheus_config() -> PrometheusConfig:
    return PrometheusConfig(
        app_name="monitorpay",
        prefix="monitorpay_http",
        group_path=True,  # the route's template as the label: no tokens, bounded cardinality
    )


def allowed(settings: Settings, authorization: str | None) -> bool:
    if settings.is_dev:
        return True
    if not settings.metrics_token or authorization is None:
        return False
    expected = f"Bearer {settings.metrics_token}".encode()
    return hmac.compare_digest(authorization.encode(), expected)


def token_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if not allowed(settings_of(connection), connection.headers.get("authorization")):
        raise NotFoundException()  # as if there were no such page


class MetricsController(PrometheusController):
    path = PATH
    guards = [token_guard]

    @get(name="metrics")
    async def get(  # type: ignore[override]
        self, request: Request[Any, Any, Any], db: Db
    ) -> Response[bytes]:
        http: Response[bytes] = await PrometheusController.get.fn(self)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(await _money(db, clock_of(request).now()))
        http.content = http.content + generate_latest(registry)
        return http


async def _money(db: AsyncSession, now: datetime) -> MoneyCollector | DatabaseDown:
    """The database's figures, or word that it did not answer: the HTTP metrics (and their
    5xx) are still served when it is down."""
    try:
        figures = await money_figures(db, now)
        await db.commit()  # the connection back to the pool before the text is built
    except (SQLAlchemyError, OSError):
        log.warning("event=metrics_database_unreachable", exc_info=True)
        return DatabaseDown()
    return MoneyCollector(figures, now)


class DatabaseDown:
    def collect(self) -> Iterator[Metric]:
        yield _read_ok(0)


def _read_ok(value: int) -> Metric:
    return GaugeMetricFamily(
        "monitorpay_metrics_database_read_ok",
        "1: the money figures below were read from the database at this scrape; 0: it failed",
        value=value,
    )


class MoneyCollector:
    """One scrape's figures as Prometheus gauges."""

    def __init__(self, figures: MoneyFigures, now: datetime) -> None:
        self.figures = figures
        self.now = now

    def collect(self) -> Iterator[Metric]:
        yield _read_ok(1)
        f = self.figures
        payments = GaugeMetricFamily(
            "monitorpay_payments_24h",
            "Payments started in the last 24 hours, by channel and their status now",
            labels=["channel", "status"],
        )
        for (channel, status), n in sorted(f.recent_payments.items()):
            payments.add_metric([channel, status], n)
        yield payments
        yield from self._unresolved()
        texts = GaugeMetricFamily(
            "monitorpay_texts",
            "Texts waiting (queued, sending, unknown) or failed, by status (sent ones: not counted)",
            labels=["status"],
        )
        for status in TEXTS_COUNTED:  # every status shown, 0 too: an alert needs the series
            texts.add_metric([status], f.texts.get(status, 0))
        yield texts
        yield from self._autopay()
        yield from self._disputes()

    def _disputes(self) -> Iterator[Metric]:
        count = GaugeMetricFamily(
            "monitorpay_disputes_open",
            "Disputes not closed yet, by status (needs_response: evidence is due)",
            labels=["status"],
        )
        cents = GaugeMetricFamily(
            "monitorpay_disputes_open_cents",
            "Amount under those disputes, in cents",
            labels=["status"],
        )
        for status in OPEN_DISPUTES:  # every open status shown, 0 too
            n, amount = self.figures.open_disputes.get(status, (0, 0))
            count.add_metric([status], n)
            cents.add_metric([status], amount)
        yield count
        yield cents

    def _unresolved(self) -> Iterator[Metric]:
        count = GaugeMetricFamily(
            "monitorpay_payments_unresolved",
            "Payments whose outcome is not known yet: pending (written, or waiting on the bank)"
            " or unknown (the processor's answer was lost; reconcile asks again)",
            labels=["status"],
        )
        age = GaugeMetricFamily(
            "monitorpay_payments_unresolved_oldest_age_seconds",
            "Age of the oldest payment in that status (0: none)",
            labels=["status"],
        )
        for status in UNRESOLVED:  # both series always there, 0 when none
            n, oldest = self.figures.unresolved.get(status, (0, self.now))
            count.add_metric([status], n)
            age.add_metric([status], max(0.0, (self.now - oldest).total_seconds()))
        yield count
        yield age

    def _autopay(self) -> Iterator[Metric]:
        run = self.figures.last_autopay
        yield GaugeMetricFamily(
            "monitorpay_autopay_last_run_finished_timestamp_seconds",
            "When the last AutoPay run finished (Unix time; 0: never)",
            value=0 if run is None else run.finished_at.timestamp(),
        )
        for name, text in (
            ("due", "were due"),
            ("charged", "were charged"),
            ("failed", "were declined or could not be charged"),
            ("errors", "an error stopped"),
        ):
            yield GaugeMetricFamily(
                f"monitorpay_autopay_last_run_{name}",
                f"Enrollments that {text} in the last AutoPay run",
                value=0 if run is None else getattr(run, name),
            )
