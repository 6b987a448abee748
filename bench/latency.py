"""Server-side time of the pages staff and payers hit most, in-process (no network), on a
seeded SQLite database with a few thousand generated clients.

Prints median and 95th percentile per request over repeated runs; asserts nothing.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from litestar.testing import AsyncTestClient  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app.clock import FixedClock  # noqa: E402
from app.main import create_app  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.store.models import Client  # noqa: E402
from bench.seeded import NOW, run_on_seeded_database  # noqa: E402
from tests.html import parse  # noqa: E402

RUNS = 200
GENERATED = 3000


def main() -> None:
    logging.disable(logging.INFO)  # the per-request log lines would drown the figures
    run_on_seeded_database(GENERATED, measure)


async def measure(url: str) -> None:
    settings = Settings(database_url=url, sms_worker=False, _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, clock=FixedClock(NOW))
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as c:
        page = parse((await c.get("/plus/login")).text)
        await c.post(
            "/plus/login",
            data={"email": "agent@demo.test", "password": "demo-agent-pass",
                  "_csrf_token": page.csrf()},
        )  # fmt: skip
        async with app.state.sessionmaker() as s:
            james = (
                await s.execute(select(Client.id).where(Client.account_number == "100002"))
            ).scalar_one()
        hx = {"HX-Request": "true"}
        cases = [
            ("search 'car' (htmx)", "/plus?q=car", hx),
            ("search by phone (htmx)", "/plus?q=5125550102", hx),
            ("client page", f"/plus/clients/{james}", {}),
            ("Account History", f"/plus/clients/{james}/history", {}),
            ("Get Summary (htmx)", f"/plus/clients/{james}/send-link?vehicle_id=2&days=30", hx),
        ]
        print(f"{GENERATED + 4} clients, {RUNS} runs each")
        print(f"{'request':32} {'median ms':>10} {'p95 ms':>8}")
        for name, path, headers in cases:
            times = []
            for _ in range(RUNS):
                t0 = time.perf_counter()
                r = await c.get(path, headers=headers)
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, (path, r.status_code)
            times.sort()
            p95 = times[int(len(times) * 0.95) - 1]
            print(f"{name:32} {statistics.median(times):>10.1f} {p95:>8.1f}")


if __name__ == "__main__":
    main()
