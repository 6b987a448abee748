"""AutoPay at scale: N enrolled vehicles due today, charged by `monitorpay autopay` as cron runs
it (the sandbox processor, its ledger in a temporary file); wall time, charges/s, peak RSS.

    .venv/bin/python bench/autopay.py                        # 10,000 then 100,000 due, on 100k
    .venv/bin/python bench/autopay.py --due 10000 --timeout 900
    .venv/bin/python bench/autopay.py --db sqlite-100k --due 10000
    AUTOPAY_CONCURRENCY=32 .venv/bin/python bench/autopay.py --due 100000
    .venv/bin/python bench/autopay.py --due 2000 --processor-rate 25   # Stripe's test-mode limit

Each run works on a throwaway copy of the data set (bench/data.py): on PostgreSQL
`CREATE DATABASE <set>_autopay TEMPLATE <set>` (no server may be connected to the set while it is
copied), on SQLite a backup of the file. In the copy the vehicles of the first N active
enrollments are made due today (paid through tomorrow); then one `python -m app.cli autopay`
runs, its output kept in a log file (its progress and summary lines shown as they come). The
process's peak RSS is its own (`os.wait4`), not this script's. Charges/s counts the AutoPay
payments that succeeded in the copy, over the wall time of the whole command (start-up
included). A run longer than `--timeout` is stopped and reported with what it charged so far.
The copy is dropped afterwards unless `--keep`.

`--processor-rate N` makes the sandbox processor refuse (429's meaning) requests past N a second,
as Stripe's test mode does at 25; the run paces itself to PROCESSOR_RATE_PER_SECOND (its default
for test keys and the sandbox, 20, or `--pace`), and its summary says how many charges the
processor turned away and were asked again ("retried (processor busy)").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from app.domain.periods import local_today  # noqa: E402
from bench import data, source  # noqa: E402
from tests.servers import server_env  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def copy_sqlite(source: Path, dest: Path) -> None:
    data.remove_sqlite(dest)
    with sqlite3.connect(source) as src, sqlite3.connect(dest) as dst:
        src.backup(dst)


async def copy(t: data.Target) -> data.Target:
    """A copy of the set, named `<set>_autopay` (an existing one is replaced)."""
    c = data.Target(name=f"{t.name}_autopay", clients=t.clients)
    if t.sqlite:
        copy_sqlite(t.sqlite_path, c.sqlite_path)
        return c
    server = await asyncpg.connect(f"{data.PG_SERVER}/postgres")
    try:
        await server.execute(f'DROP DATABASE IF EXISTS "{c.db_name}" WITH (FORCE)')
        try:
            await server.execute(f'CREATE DATABASE "{c.db_name}" TEMPLATE "{t.db_name}"')
        except asyncpg.ObjectInUseError:
            raise SystemExit(
                f"{t.db_name} is in use (a server on it?): it cannot be copied while connected"
            ) from None
    finally:
        await server.close()
    return c


async def drop(c: data.Target) -> None:
    if c.sqlite:
        data.remove_sqlite(c.sqlite_path)
        return
    server = await asyncpg.connect(f"{data.PG_SERVER}/postgres")
    try:
        await server.execute(f'DROP DATABASE IF EXISTS "{c.db_name}" WITH (FORCE)')
    finally:
        await server.close()


async def prepare(c: data.Target, due: int) -> int:
    db = await data.connect(c)
    try:
        return await data.make_due(db, due, local_today(datetime.now(UTC), data.TZ))
    finally:
        await db.close()


async def autopay_payments(c: data.Target) -> dict[str, int]:
    db = await data.connect(c)
    try:
        out = {}
        for status in ("succeeded", "failed", "pending", "unknown"):
            n = await db.scalar(
                f"SELECT count(*) FROM payment WHERE channel = 'autopay' "
                f"AND status = '{status}' AND idempotency_key LIKE 'autopay:%'"
            )
            out[status] = n or 0
        return out
    finally:
        await db.close()


def run_cli(
    c: data.Target, src: Path, work: Path, timeout: float, pacing: dict[str, str]
) -> tuple[float, int, int | None, bool]:
    """`python -m app.cli autopay` on the copy: (wall seconds, peak RSS KiB, exit code,
    stopped by the timeout)."""
    env = server_env(c.url, work / "sandbox-ledger.db", LOG_LEVEL="WARNING") | pacing
    if "AUTOPAY_CONCURRENCY" in os.environ:
        env["AUTOPAY_CONCURRENCY"] = os.environ["AUTOPAY_CONCURRENCY"]
    log_path = work / "autopay.log"
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "app.cli", "autopay"],
        cwd=src, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    stopped = threading.Event()

    def stop() -> None:
        stopped.set()
        proc.send_signal(signal.SIGKILL)

    timer = threading.Timer(timeout, stop)
    timer.start()
    assert proc.stdout is not None
    with log_path.open("w") as log:
        for line in proc.stdout:  # read to the end: a full pipe would stall the run
            log.write(line)
            if not line.startswith("  "):  # progress and summary; not one line per vehicle
                print(f"    | {line.rstrip()[:200]}", flush=True)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    timer.cancel()
    wall = time.monotonic() - started
    return wall, usage.ru_maxrss, proc.returncode, stopped.is_set()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="AutoPay wall time, charges/s and peak RSS")
    parser.add_argument("--db", default="100k", help="the data set: 10k, 100k, 1m, sqlite-100k")
    parser.add_argument("--due", default="10000,100000", help="vehicles due, comma-separated")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a run stops")
    parser.add_argument("--source", default="HEAD", help="commit to run ('.': working tree)")
    parser.add_argument("--keep", action="store_true", help="keep the copy (and its log)")
    parser.add_argument(
        "--processor-rate",
        type=float,
        default=0,
        help="the sandbox refuses requests past this many a second (0: no limit)",
    )
    parser.add_argument(
        "--pace",
        type=float,
        default=None,
        help="PROCESSOR_RATE_PER_SECOND for the run (default: the app's)",
    )
    args = parser.parse_args(argv)
    pacing = {"SANDBOX_RATE_LIMIT_PER_SECOND": str(args.processor_rate)}
    if args.pace is not None:
        pacing["PROCESSOR_RATE_PER_SECOND"] = str(args.pace)
    t = data.ensure(args.db, migrate=False)
    src, commit = source.export(args.source, Path(tempfile.mkdtemp(prefix="bench-autopay-src-")))
    commit += f" (schema {source.migrate(t.url, src)})"
    print(f"bench/autopay.py {shlex.join(sys.argv[1:])}")
    print(f"commit {commit}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"data set {t.name}, AUTOPAY_CONCURRENCY={os.environ.get('AUTOPAY_CONCURRENCY', 'default')}, "
          f"processor rate limit {args.processor_rate or 'none'}/s, pace {args.pace or 'default'}/s")  # fmt: skip
    rows = []
    for due in (int(x) for x in args.due.split(",") if x.strip()):
        work = Path(tempfile.mkdtemp(prefix="bench-autopay-"))
        started = time.monotonic()
        c = asyncio.run(copy(t))
        made = asyncio.run(prepare(c, due))
        print(f"  {due:,} due: copy {c.db_name} ready in {time.monotonic() - started:.0f} s "
              f"({made:,} enrolled vehicles due)", flush=True)  # fmt: skip
        before = loadavg()
        wall, rss_kib, code, stopped = run_cli(c, src, work, args.timeout, pacing)
        after = loadavg()
        paid = asyncio.run(autopay_payments(c))
        rows.append((due, made, wall, paid, rss_kib, code, stopped, before, after))
        print(f"  {due:,} due: {wall:.1f} s, {paid['succeeded'] / wall:.1f} charges/s, "
              f"peak RSS {rss_kib / 1024:.0f} MB, exit {code}"
              f"{' (stopped at the timeout)' if stopped else ''}, payments {paid}, "
              f"load {before} -> {after}; log {work / 'autopay.log'}", flush=True)  # fmt: skip
        if not args.keep:
            asyncio.run(drop(c))
    print("\n| due | wall s | charged | charges/s | peak RSS MB | exit | load before -> after |")
    print("|---|---|---|---|---|---|---|")
    for _due, made, wall, paid, rss, code, stopped, before, after in rows:
        note = " (stopped)" if stopped else ""
        print(f"| {made:,} | {wall:.1f}{note} | {paid['succeeded']:,} "
              f"| {paid['succeeded'] / wall:.1f} | {rss / 1024:.0f} | {code} "
              f"| {before} -> {after} |")  # fmt: skip


if __name__ == "__main__":
    main()
