"""Liveness (/healthz: the process answers and reaches its database) and readiness (/readyz:
everything a request needs answers quickly, so a load balancer sends traffic elsewhere when
not). Both are outside sessions and CSRF (main.py): a check must not need what it checks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from litestar import Request, get
from litestar.response import Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.web.deps import Db, settings_of

CHECK_TIMEOUT_SECONDS = 2.0  # each check; a load balancer's probe usually waits 5 s


@get("/healthz", name="healthz")
async def healthz(db: Db) -> Response[dict[str, str]]:
    try:
        await db.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        return Response({"status": "error", "database": "unreachable"}, status_code=503)
    return Response({"status": "ok", "database": "ok"})


async def _database(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _passes(check: Awaitable[object]) -> bool:
    try:
        await asyncio.wait_for(check, CHECK_TIMEOUT_SECONDS)
    except Exception:  # noqa: BLE001 - refused, timed out or broken: not ready, whatever the cause
        return False
    return True


@get("/readyz", name="readyz")
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, object]]:
    """The database (SELECT 1) and, when REDIS_URL is set, Redis (a read through the shared
    store: sessions and limits live there); 503 names what failed."""
    state = request.app.state
    checks = {"database": await _passes(_database(state.engine))}
    if settings_of(request).redis_url:
        checks["redis"] = await _passes(state.kv.exists("readyz"))
    failed = [name for name, ok in checks.items() if not ok]
    body: dict[str, object] = {
        "ready": not failed,
        **{k: "ok" if ok else "failed" for k, ok in checks.items()},
    }
    if failed:
        body["failed"] = failed
        return Response(body, status_code=503)
    return Response(body)
