"""What every benchmark starts from: a throwaway SQLite database, migrated and seeded."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from app.store.db import make_engine, make_sessionmaker
from app.store.migrate import upgrade
from app.store.seed import seed

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


def run_on_seeded_database(generated: int, measure: Callable[[str], Awaitable[None]]) -> None:
    """Migrate and seed a fresh database (with `generated` extra clients), then `measure(url)`."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        upgrade(url)  # Alembic runs its own event loop: before ours starts
        asyncio.run(_seed_then(url, generated, measure))


async def _seed_then(url: str, generated: int, measure: Callable[[str], Awaitable[None]]) -> None:
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as s:
        await seed(s, NOW, generated=generated)
    await engine.dispose()
    await measure(url)
