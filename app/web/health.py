from __future__ import annotations

from litestar import get
from litestar.response import Response
from sqlalchemy import text

from app.web.deps import Db


@get("/healthz", name="healthz")
async def healthz(db: Db) -> Response[dict[str, str]]:
    try:
        await db.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        return Response({"status": "error", "database": "unreachable"}, status_code=503)
    return Response({"status": "ok", "database": "ok"})
