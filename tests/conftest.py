"""Shared fixtures: databases (SQLite always, PostgreSQL when available), the app, clients."""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.adapters.payments.sandbox import SandboxGateway
from app.clock import FixedClock
from app.i18n import compile_catalogs
from app.main import create_app
from app.settings import Settings
from app.store.db import make_engine, make_sessionmaker
from app.store.migrate import upgrade
from app.store.seed import seed
from tests.books import Charge, check_books, sandbox_ledger, stripe_ledger
from tests.fakes.fake_stripe import FakeStripe
from tests.html import Page, parse

# 10:00 in Austin on 2026-11-25: a fixed "now" every test starts from.
NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
PG_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/monitorpay_test"
)
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
# Redis for the many-instance tests: database 15, emptied by each test that uses it.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_REDIS = os.environ.get("REQUIRE_REDIS") == "1"
TABLES = (
    "auditevent, autopayenrollment, paymentallocation, smsmessage, refund, processedevent, "
    "dispute, payment, paymentlink, "
    "cardonfile, invoice, vehicle, client, staffuser, location, loginattempt"
)


START_POSTGRES = (
    'start it with: pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" '
    "main start  (or run .ci/run, which also creates the database)"
)
START_REDIS = (
    "start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' "
    "--appendonly no  (or run .ci/run)"
)


def pytest_configure(config: pytest.Config) -> None:
    compile_catalogs()  # as `make test` does, for a bare `pytest` too


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After every test that used a seeded or empty database (and passed), the books must
    balance there (tests/books.py): the test fails otherwise. The processor's ledger is checked
    too when the test's `app` runs the sandbox gateway, or the test used the fake Stripe."""
    result = yield
    if item.get_closest_marker("books_unchecked") is None:
        _check_books(getattr(item, "funcargs", {}))
    return result


def _check_books(funcargs: dict[str, Any]) -> None:
    url = funcargs.get("db_url") or funcargs.get("empty_db_url")
    if not isinstance(url, str):
        return
    found = check_books(url, _processor_ledger(funcargs))
    if found:
        pytest.fail(
            "the books do not balance after this test (tests/books.py):\n  "
            + "\n  ".join(found)
            + "\n(a test that breaks them on purpose says so: @pytest.mark.books_unchecked)",
            pytrace=False,
        )


def _processor_ledger(funcargs: dict[str, Any]) -> list[Charge] | None:
    app = funcargs.get("app")
    gateway = getattr(getattr(app, "state", None), "gateway", None)
    if isinstance(gateway, SandboxGateway):
        return sandbox_ledger(gateway)
    fake = funcargs.get("fake")
    if isinstance(fake, FakeStripe) and isinstance(app, Litestar):
        return stripe_ledger(fake)
    return None


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Migrated empty and seeded SQLite files, copied per test (migrations run once)."""
    base = tmp_path_factory.mktemp("dbtemplate")
    empty = base / "empty.db"
    upgrade(_sqlite_url(empty))
    seeded = base / "seeded.db"
    shutil.copy(empty, seeded)

    async def _seed() -> None:
        engine = make_engine(_sqlite_url(seeded))
        async with make_sessionmaker(engine)() as s:
            await seed(s, NOW, generated=40)
        await engine.dispose()

    asyncio.run(_seed())
    return empty, seeded


def _pg_available() -> bool:
    import asyncpg

    dsn = PG_URL.replace("+asyncpg", "")

    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(dsn, timeout=3)
        except asyncpg.InvalidCatalogNameError:  # the server is up; make the test database
            server = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres", timeout=3)
            await server.execute(f'CREATE DATABASE "{dsn.rsplit("/", 1)[1]}"')
            await server.close()
            return True
        except Exception:  # noqa: BLE001 - any failure means "not available"
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


@pytest.fixture(scope="session")
def pg_migrated() -> str:
    if not _pg_available():
        if REQUIRE_POSTGRES:
            pytest.fail(
                f"REQUIRE_POSTGRES=1 (the default of `make test`) but PostgreSQL is not reachable"
                f" at {PG_URL}: {START_POSTGRES}; or run `make test REQUIRE_POSTGRES=0` to skip"
                " the PostgreSQL tests",
                pytrace=False,
            )
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} ({START_POSTGRES})")

    async def reset() -> None:
        engine = make_engine(PG_URL)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(reset())
    upgrade(PG_URL)
    return PG_URL


def _fresh_db(request: pytest.FixtureRequest, tmp_path: Path, seeded: bool) -> str:
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        empty, full = request.getfixturevalue("sqlite_template")
        target = tmp_path / "test.db"
        shutil.copy(full if seeded else empty, target)
        return _sqlite_url(target)
    url: str = request.getfixturevalue("pg_migrated")

    async def prepare() -> None:
        engine = make_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        if seeded:
            async with make_sessionmaker(engine)() as s:
                await seed(s, NOW, generated=40)
        await engine.dispose()

    asyncio.run(prepare())
    return url


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A seeded database: SQLite by default; parametrize with ["sqlite", "postgres"]."""
    return _fresh_db(request, tmp_path, seeded=True)


@pytest.fixture
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _fresh_db(request, tmp_path, seeded=False)


@pytest.fixture
def redis_url() -> str:
    """An empty Redis database; a failure instead of a skip when REQUIRE_REDIS=1 (CI)."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        if REQUIRE_REDIS:
            pytest.fail(
                f"REQUIRE_REDIS=1 (the default of `make test`) but Redis is not reachable at"
                f" {REDIS_URL}: {exc}; {START_REDIS}; or run `make test REQUIRE_REDIS=0` to skip"
                " the many-instance tests",
                pytrace=False,
            )
        pytest.skip(f"Redis not reachable at {REDIS_URL} ({START_REDIS})")
    return REDIS_URL


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The payment core's short waits before retrying a busy processor, recorded instead of
    slept (no test sleeps for time)."""
    seen: list[float] = []

    async def pause(seconds: float) -> None:
        seen.append(seconds)

    monkeypatch.setattr(importlib.import_module("app.services.payments.charge"), "pause", pause)
    return seen


def make_settings(db_url: str, **overrides: Any) -> Settings:
    """Settings for an app under test: this database, no background SMS worker or
    reconciliation loop (tests run `reconcile.run` themselves), no .env."""
    values: dict[str, Any] = {
        "app_env": "dev",
        "database_url": db_url,
        "secret_key": "test-secret-key-that-is-long-enough-0123456789",
        "sms_worker": False,
        "reconcile_every_seconds": 0,
        "resolve_in_background": False,  # tests resolve by reload or reconcile, deterministically
        "sandbox_ledger": ":memory:",
        "kv_path": tempfile.mkdtemp(prefix="monitorpay-kv-"),
        "_env_file": None,
    }
    return Settings(**(values | overrides))


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url)


@pytest.fixture
def app(settings: Settings, clock: FixedClock) -> Litestar:
    return create_app(settings, clock=clock)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as c:
        yield c


@pytest.fixture
async def session(app: Litestar) -> AsyncIterator[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with maker() as s:
        yield s


async def get_page(client: AsyncTestClient[Any], url: str, **kw: Any) -> tuple[int, Page]:
    r = await client.get(url, **kw)
    return r.status_code, parse(r.text)


async def csrf_for(client: AsyncTestClient[Any], url: str) -> str:
    r = await client.get(url)
    return parse(r.text).csrf()


async def sign_in_staff(
    client: AsyncTestClient[Any], email: str = "agent@demo.test", password: str = "demo-agent-pass"
) -> None:
    token = await csrf_for(client, "/plus/login")
    r = await client.post(
        "/plus/login",
        data={"email": email, "password": password, "_csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


async def sign_in_client(
    client: AsyncTestClient[Any], account: str = "100001", password: str = "demo-client-pass"
) -> None:
    token = await csrf_for(client, "/account/login")
    r = await client.post(
        "/account/login",
        data={"account_number": account, "password": password, "_csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Browser tests run last: Playwright's sync API keeps an event loop in this thread for
    # the rest of the session, which the asyncio-based tests must not meet.
    for item in items:
        if "e2e" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: "e2e" in str(item.fspath))


@pytest.fixture(scope="session")
def artifacts_dir() -> Iterator[Path]:
    path = Path(__file__).resolve().parent.parent / "artifacts"
    path.mkdir(exist_ok=True)
    yield path
