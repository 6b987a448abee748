"""What a phone downloads for the Secure Payment page (HTML, CSS, JS), raw and gzip-compressed.

Runs the app in-process against a throwaway seeded SQLite database in sandbox mode, opens a
fresh link and fetches the page plus every stylesheet and script it references.
Prints figures; asserts nothing (budget: under 30 KB compressed).
"""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from litestar.testing import AsyncTestClient  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app.clock import FixedClock  # noqa: E402
from app.main import create_app  # noqa: E402
from app.services import send_link  # noqa: E402
from app.services.sms_worker import deliver_due  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.store.models import Client, StaffUser, Vehicle  # noqa: E402
from bench.seeded import NOW, run_on_seeded_database  # noqa: E402

BUDGET = 30 * 1024


def main() -> None:
    run_on_seeded_database(0, measure)


async def measure(url: str) -> None:
    settings = Settings(
        database_url=url, sms_worker=False, payments_gateway="sandbox", _env_file=None
    )  # type: ignore[call-arg]
    app = create_app(settings, clock=FixedClock(NOW))
    async with AsyncTestClient(app=app) as c:
        async with app.state.sessionmaker() as s:
            client = (
                await s.execute(select(Client).where(Client.account_number == "100002"))
            ).scalar_one()
            staff = (await s.execute(select(StaffUser))).scalars().first()
            vehicle = (
                (await s.execute(select(Vehicle).where(Vehicle.client_id == client.id)))
                .scalars()
                .first()
            )
            await send_link.send(
                s,
                staff=staff,
                client_id=client.id,
                vehicle_id=vehicle.id,
                days=30,
                raw_phone=client.phone_e164,
                reviewed_total_cents=None,
                now=NOW,
                ttl_seconds=600,
                base_url="http://127.0.0.1:8000",
                company="Demo",
                box=app.state.box,
            )
            await s.commit()
        await deliver_due(app.state.sessionmaker, app.state.sms, app.state.clock, app.state.box)
        body = next(iter(app.state.sms.delivered.values()))
        token = re.search(r"/pay/(\S+)", body).group(1)
        page = await c.get(f"/pay/{token}")
        assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
        rows = [("page HTML", page.content)]
        for asset in assets:
            rows.append((asset, (await c.get(asset)).content))
    total_raw = total_gz = 0
    print(f"{'resource':40} {'raw':>9} {'gzip':>9}")
    for name, content in rows:
        gz = len(gzip.compress(content, 9))
        total_raw += len(content)
        total_gz += gz
        print(f"{name:40} {len(content):>9,} {gz:>9,}")
    print(f"{'total':40} {total_raw:>9,} {total_gz:>9,}")
    verdict = "within" if total_gz <= BUDGET else "OVER"
    print(f"budget {BUDGET:,} bytes compressed: {verdict}")


if __name__ == "__main__":
    main()
