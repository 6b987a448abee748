"""What the app holds for as long as it runs: the database engine and sessions, the payment
gateway and SMS provider chosen by the settings, the sealing box, the shared key-value store and
the background resolver of unknown payments. Built once per app; closed when it stops."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import State
from litestar.stores.base import NamespacedStore
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.adapters.payments.factory import make_gateway
from app.adapters.payments.port import PaymentGateway
from app.adapters.sms.factory import make_sms_provider
from app.adapters.sms.port import SmsProvider
from app.clock import Clock
from app.services import reconcile
from app.services.sealed import SecretBox
from app.settings import Settings
from app.store.db import make_engine, make_sessionmaker
from app.store.kv import make_store


@dataclass(frozen=True)
class Resources:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    sms: SmsProvider
    gateway: PaymentGateway
    box: SecretBox
    kv: NamespacedStore  # memory or Redis: sessions and rate limits, shared by processes
    resolver: reconcile.BackgroundResolver

    def state(self) -> State:
        """The app's state: what handlers and dependencies read as `request.app.state.*`."""
        return State({name: getattr(self, name) for name in self.__dataclass_fields__})

    async def close(self) -> None:
        for adapter in (self.resolver, self.gateway, self.sms):
            close = getattr(adapter, "aclose", None)
            if close is not None:
                await close()
        await self.engine.dispose()


def open_resources(settings: Settings, clock: Clock) -> Resources:
    engine = make_engine(
        settings.async_database_url,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout_seconds,
    )
    sessionmaker = make_sessionmaker(engine)
    gateway = make_gateway(settings, clock)
    return Resources(
        settings=settings,
        clock=clock,
        engine=engine,
        sessionmaker=sessionmaker,
        sms=make_sms_provider(settings),
        gateway=gateway,
        box=SecretBox(settings.secret_key),
        kv=make_store(settings),
        resolver=reconcile.BackgroundResolver(
            sessionmaker, gateway, clock, settings.company_name, settings.resolve_in_background
        ),
    )
