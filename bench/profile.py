"""Where a hot page's server CPU goes: `monitorpay serve` (one process, Redis sessions) on a data
set, wrk on one case of bench/load.py, and py-spy sampling the server meanwhile; each sample is
put in the layer of the innermost frame that belongs to one (SQLAlchemy, asyncpg, Litestar,
Jinja, Babel, the app's own code, ...), and the layer's share is turned into milliseconds of the
CPU per request measured from /proc over the same seconds.

    .venv/bin/python bench/profile.py --db 100k --case summary --source HEAD
    .venv/bin/python bench/profile.py --db 100k --case history --source 2e42cb4 --duration 15
    .venv/bin/python bench/profile.py --db 100k --case pay --redis redis://127.0.0.1:6379/2

Needs wrk and py-spy (`pip install py-spy`; sampling another process needs ptrace, as root
here). Prints a markdown table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data, source  # noqa: E402
from bench.load import REDIS_URL, lua, make_links, sample_clients, sign_in, wrk  # noqa: E402
from tests.servers import server_env, start_server  # noqa: E402

# (layer, what a frame's file path contains), the first match of the innermost frame wins,
# so a Jinja frame called from a handler counts as Jinja.
LAYERS = (  # py-spy names a frame "function (package/module.py:line)"
    ("asyncpg (driver)", "(asyncpg/"),
    ("aiosqlite (driver)", "(aiosqlite/"),
    ("SQLAlchemy", "(sqlalchemy/"),
    ("SQLModel", "(sqlmodel/"),
    ("Jinja (templates)", "(jinja2/"),
    ("Jinja (templates)", ".html:"),
    ("Babel", "(babel/"),
    ("Redis client", "(redis/"),
    ("msgspec / json", "(msgspec/"),
    ("Litestar", "(litestar/"),
    ("uvicorn / httptools / h11", "(uvicorn/"),
    ("uvicorn / httptools / h11", "(httptools/"),
    ("uvicorn / httptools / h11", "(h11/"),
    ("app/store", "(app/store/"),
    ("app/web", "(app/web/"),
    ("app: services, domain, formatting, logs", "(app/"),
    ("asyncio event loop", "(asyncio/"),
    ("uvloop", "(uvloop/"),
)


def layer(stack: str) -> str:
    """The layer of a collapsed stack's innermost frame that belongs to one."""
    for frame in reversed(stack.split(";")):
        for name, marker in LAYERS:
            if marker in frame:
                return name
    return "other (interpreter, stdlib)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="py-spy profile of one bench/load.py case")
    parser.add_argument("--db", default="100k")
    parser.add_argument(
        "--case", default="summary", choices=("summary", "client", "history", "search", "pay")
    )
    parser.add_argument("--source", default="HEAD")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--rate", type=int, default=500, help="py-spy samples per second")
    parser.add_argument("--redis", default=REDIS_URL, help="REDIS_URL of the server")
    args = parser.parse_args(argv)
    url = args.db if "://" in args.db else data.ensure(args.db, migrate=False).url
    work = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    src, commit = source.export(args.source, work)
    commit += f" (schema {source.migrate(url, src)})"
    env = server_env(url, work / "sandbox-ledger.db", REDIS_URL=args.redis, LOG_LEVEL="WARNING",
                     WEB_CONCURRENCY="1")  # fmt: skip
    app = start_server(env, src, ready_within=120)
    try:
        sample, _ = asyncio.run(sample_clients(url, 1000, 0))
        cookie = sign_in(app.url)
        headers = {"Cookie": cookie}
        if args.case == "summary":
            paths = [f"/plus/clients/{c}/send-link?vehicle_id={v}&days=30" for c, v in sample]
            headers["HX-Request"] = "true"
        elif args.case == "search":
            from bench.load import SEARCHES

            paths = [f"/plus/?q={q}" for q in SEARCHES]
            headers["HX-Request"] = "true"
        elif args.case == "pay":  # the Secure Payment page of 200 links, as load.py's case
            tokens = asyncio.run(make_links(url, [c for c, _ in sample[:200]], app.url))
            paths, headers = [f"/pay/{t}" for t in tokens], {}
        elif args.case == "client":
            paths = [f"/plus/clients/{c}" for c, _ in sample]
        else:
            paths = [f"/plus/clients/{c}/history" for c, _ in sample]
        script = work / "case.lua"
        script.write_text(lua(paths, headers))
        wrk(app.url, script, args.connections, 3, 2, args.case, "app", app.proc.pid)  # warm up
        raw = work / "profile.txt"
        spy = subprocess.Popen(  # noqa: S603
            [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(app.proc.pid),
             "--subprocesses", "--format", "raw", "--rate", str(args.rate), "--nonblocking",
             "--duration", str(args.duration), "--output", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        time.sleep(1)
        run = wrk(app.url, script, args.connections, args.duration - 2, 2, args.case, "app",
                  app.proc.pid)  # fmt: skip
        spy.wait(timeout=args.duration + 60)
    finally:
        app.stop()
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[layer(stack)] += int(n)
    total = sum(counts.values()) or 1
    print(f"bench/profile.py {' '.join(sys.argv[1:])}")
    print(f"commit {commit}, case {args.case}, {run.rps:.0f} req/s, server CPU "
          f"{run.cpu_ms:.2f} ms/request, p99 {run.p99:.0f} ms, load {run.load_before} -> "
          f"{run.load_after}, {total} samples, {os.cpu_count()} cores")  # fmt: skip
    print("\n| layer | share of samples | ms of CPU per request |")
    print("|---|---|---|")
    for name, n in counts.most_common():
        print(f"| {name} | {n / total:.0%} | {run.cpu_ms * n / total:.2f} |")
    print(f"\nraw profile: {raw}")


if __name__ == "__main__":
    main()
