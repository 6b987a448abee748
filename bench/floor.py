"""The raw floor in the same sitting as bench/load.py: the ~2.9 KB Invoice Summary-like fragment of
../shared/perf-floor/floor_app.py (two indexed asyncpg queries on a pool, a Jinja render, no
auth, no session) served by Litestar + uvicorn (one process) from a bench/data.py set, driven by
wrk with the same clients as load.py's Get Summary; prints req/s, p99 and server CPU per request
(from /proc, as load.py measures it) with the load average.

    .venv/bin/python bench/floor.py --db 100k --connections 64 --duration 10
    .venv/bin/python bench/floor.py serve --port 8851 --url postgresql://...   (what it runs)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
import uvicorn  # noqa: E402
from jinja2 import Environment  # noqa: E402
from litestar import Litestar, get  # noqa: E402
from litestar.response import Response  # noqa: E402

from bench import data  # noqa: E402
from bench.load import lua, sample_clients, wrk  # noqa: E402
from tests.servers import free_port, wait_healthy  # noqa: E402

FRAGMENT = (
    '<section id="invoice-summary"><h3>Invoice Summary</h3><dl>\n'
    "{% for v in vehicles %}<div><dt>{{ v['label'] }} paid through {{ v['paid_through'] }}</dt>"
    "<dd>{{ v['cycle'] }} days</dd></div>{% endfor %}\n"
    "{% for i in invoices %}<div class=\"line\"><dt>Past due {{ i['due'] }}</dt>"
    "<dd>${{ '%.2f' % (i['amount']/100) }}</dd></div>{% endfor %}\n"
    "<div><dt>Total Due Amount</dt><dd>${{ '%.2f' % (total/100) }}</dd></div></dl>"
    "<p>" + "x" * 2500 + "</p></section>"
)
VEHICLES = (
    "SELECT year || ' ' || make || ' ' || model AS label, paid_through, "
    "billing_cycle_days AS cycle FROM vehicle WHERE client_id = $1"
)
INVOICES = (
    "SELECT amount_cents + tax_cents AS amount, due_date AS due FROM invoice "
    "WHERE client_id = $1 AND status = 'open'"
)


def serve(port: int, url: str) -> None:
    template = Environment(autoescape=True).from_string(FRAGMENT)
    pool: dict[str, Any] = {}

    async def start() -> None:
        pool["p"] = await asyncpg.create_pool(url, min_size=4, max_size=8)

    @get("/summary", sync_to_thread=False)
    async def summary(client: int = 1) -> Response[str]:
        async with pool["p"].acquire() as c:
            vehicles = await c.fetch(VEHICLES, client)
            invoices = await c.fetch(INVOICES, client)
        total = sum(i["amount"] for i in invoices) + 8500
        body = template.render(vehicles=vehicles, invoices=invoices, total=total)
        return Response(body, media_type="text/html; charset=utf-8")

    @get("/healthz", sync_to_thread=False)
    async def healthz() -> str:
        return "ok"

    app = Litestar([summary, healthz], on_startup=[start], debug=False)
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        parser = argparse.ArgumentParser()
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--url", required=True)
        args = parser.parse_args(argv[1:])
        serve(args.port, args.url)
        return
    parser = argparse.ArgumentParser(description="the raw floor, measured like load.py")
    parser.add_argument("--db", default="100k")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    url = data.ensure(args.db, migrate=False).url
    sample, _ = asyncio.run(sample_clients(url, 1000, 0))
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    log_path = work / "floor.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, __file__, "serve", "--port", str(port),
             "--url", url.replace("+asyncpg", "")],
            stdout=log, stderr=subprocess.STDOUT, env=os.environ,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, log_path, within=60)
        script = work / "floor.lua"
        script.write_text(lua([f"/summary?client={c}" for c, _ in sample], {}))
        for _ in range(args.rounds):
            run = wrk(base, script, args.connections, args.duration, 2, "summary", "floor",
                      proc.pid)  # fmt: skip
            print(f"floor {args.connections} conn: {run.rps:,.0f} req/s, CPU {run.cpu_ms:.3f} "
                  f"ms/req, p50 {run.p50:.1f} p99 {run.p99:.1f} ms, {run.bytes_per} B, "
                  f"non-2xx {run.non2xx}, load {run.load_before} -> {run.load_after}",
                  flush=True)  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
