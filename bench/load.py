"""Throughput and latency of the hot pages over real HTTP, against a bare handler that answers
the same bytes from the same server: `monitorpay serve` (uvicorn, WEB_CONCURRENCY processes,
Redis for sessions as in production) on a data set of bench/data.py, and bench/bare.py on the
same uvicorn with the same workers; wrk drives both in turn, A/B/A/B/A/B.

    .venv/bin/python bench/load.py                          # 100k on PostgreSQL, every case
    .venv/bin/python bench/load.py --db 100k --only summary,search,history --duration 10
    .venv/bin/python bench/load.py --db sqlite-100k --connections 16 --rounds 1
    .venv/bin/python bench/load.py --db postgresql+asyncpg://postgres@127.0.0.1/mydb

Cases (`--only`, comma-separated; default all):
  summary   Get Summary: GET /plus/clients/{id}/send-link?vehicle_id=..&days=30, HX-Request
  search    GET /plus/?q=<fragment>, HX-Request; fragments of names, phone digits, accounts
  client    GET /plus/clients/{id}
  history   GET /plus/clients/{id}/history (Account History)
  pay       GET /pay/{token}: the Secure Payment page of 200 links sent just before (to the
            first 200 clients of the sample; the links stay in the set)
  reports   GET /plus/reports?from=..&to=..&location=.., HX-Request, as supervisor@demo.test: the
            last 30, 90 and 366 days (`--report-days 366`: only those), for every location and
            for each one (the report's SQL sums every payment, refund and link of the range)
  payment   a sandbox link payment (open the page, tokenize the card, submit): an httpx loop of
            `--payments` links, `--payment-concurrency` at a time, timing the submission; the bare
            side answers the same loop. The links are sent to a reserved slice of clients
            (the last accounts), whom the other cases never read; each run pays them a period.
Each page case requests a thousand clients (a fixed sample of Austin North accounts) in random
order; staff pages are signed in as agent@demo.test (one sign-in, its cookie given to wrk).
Connections: 64 per run, 16 for search (the figures of issue 12); `--connections N` sets all.
wrk sends no Accept-Encoding: both sides answer uncompressed (bench/page_weight.py measures the
bytes a browser gets). The server and the CLI run the code of `--source` (default HEAD; see
bench/source.py), the set migrated to that code's schema.

Prints, per run: req/s, p50/p95/p99 (wrk's own histogram, through a Lua `done`), non-2xx
answers and socket errors, and the load average (/proc/loadavg) before and after; then per
case the medians of the rounds and app ÷ bare. A non-2xx answer or socket error is reported,
never hidden. Needs `wrk` (Debian package; `make bench` installs it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402

from app.store.db import make_engine, make_sessionmaker  # noqa: E402
from bench import data, source  # noqa: E402
from tests.html import parse  # noqa: E402
from tests.servers import free_port, send_links, server_env, start_server, wait_healthy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CASES = ("summary", "search", "client", "history", "pay", "reports", "payment")
LABELS = {
    "summary": "Get Summary (htmx)",
    "search": "search as you type (htmx)",
    "client": "client page",
    "history": "Account History",
    "pay": "Secure Payment page",
    "reports": "Reports (30-366 days, htmx)",
    "payment": "sandbox link payment",
}
DEFAULT_CONNECTIONS = {"search": 16}
SAMPLE = 1000
GOOD_CARD = "4242424242424242"
REDIS_URL = "redis://127.0.0.1:6379/14"  # tests use /15, make run-prod-local /0
# what a person types: three or more letters of a name, digits of a phone, an account's start
SEARCHES = (
    "mar gar son lop ngu rob wil and mart john ram tho ale chr mic jen dav kim car ros her "
    "per gon san rey mor cru tor pat bro mil eli ann isa jos jua luc dia fer hec sof xim "
    "maria garcia james smith lopez nguyen 512200 7372001 915 1000 1001 10023 5122"
).split()


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # the fields after "(comm) "


def tree_cpu_seconds(root: int) -> float:
    """CPU (user + system) used so far by the server process `root` and every process under it
    (uvicorn's workers), from /proc/<pid>/stat: what the server spent, whatever wrk spent."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    ticks = 0
    for pid in tree:
        if (fields := _stat(pid)) is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / TICK


@dataclass
class Run:
    case: str
    side: str  # app | bare
    rps: float
    p50: float  # ms
    p95: float
    p99: float
    requests: int
    non2xx: int
    errors: int
    bytes_per: int
    load_before: str
    load_after: str
    cpu_ms: float = 0.0  # the server's CPU per request (all its processes, from /proc)


@dataclass
class Case:
    name: str
    paths: list[str]
    headers: dict[str, str]
    connections: int
    body: bytes = b""
    notes: list[str] = field(default_factory=list)


# -- the data the cases ask for ----------------------------------------------------------------


async def sample_clients(
    url: str, count: int, reserved: int
) -> tuple[list[tuple[int, int]], list[int]]:
    """(client id, first vehicle id) of `count` Austin North clients who take texts, in a fixed
    pseudo-random order; and the ids of the last `reserved` such clients (for payments)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            eligible = (
                await conn.execute(
                    text(
                        "SELECT c.id, min(v.id) FROM client c JOIN location l ON l.id = c.location_id"
                        " JOIN vehicle v ON v.client_id = c.id WHERE l.payments_enabled"
                        " AND NOT c.sms_opt_out GROUP BY c.id ORDER BY c.id"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    rows = [(int(c), int(v)) for c, v in eligible]
    pay_slice = [c for c, _ in rows[-reserved:]] if reserved else []
    rest = rows[: len(rows) - reserved] if reserved else rows
    rng = random.Random(12)
    return rng.sample(rest, min(count, len(rest))), pay_slice


async def make_links(url: str, client_ids: Sequence[int], base_url: str) -> list[str]:
    """Secure Payment links sent as staff send them (tests/servers.py), valid for a day."""
    engine = make_engine(url)
    try:
        sent = await send_links(
            make_sessionmaker(engine), client_ids, ttl_seconds=86_400, base_url=base_url
        )
    finally:
        await engine.dispose()
    return [token for _, token in sent]


async def report_paths(url: str, spans: Sequence[int] = (30, 90, 366)) -> list[str]:
    """The report for the last 30, 90 and 366 days (`spans`), all locations and each one."""
    engine = make_engine(url)
    async with engine.connect() as conn:
        ids = [i for (i,) in await conn.execute(text("SELECT id FROM location ORDER BY id"))]
    await engine.dispose()
    today = datetime.now(UTC).date()
    return [
        f"/plus/reports?from={today - timedelta(days=days - 1)}&to={today}&location={where}"
        for days in spans
        for where in ["", *ids]
    ]


def sign_in(base: str, email: str = "agent@demo.test", password: str = "demo-agent-pass") -> str:
    """A staff session: the Cookie header wrk sends."""
    with httpx.Client(base_url=base, timeout=30, trust_env=False) as c:
        page = parse(c.get("/plus/login").text)
        r = c.post(
            "/plus/login",
            data={"email": email, "password": password, "_csrf_token": page.csrf()},
        )  # fmt: skip
        if r.status_code >= 400:
            raise SystemExit(f"sign-in failed: {r.status_code}")
        return "; ".join(f"{k}={v}" for k, v in c.cookies.items())


# -- wrk ---------------------------------------------------------------------------------------

LUA = """
local paths = {%(paths)s}
local headers = {%(headers)s}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
function init(args)
  math.randomseed(os.time() * 100 + (tid or 0))
end
function request()
  return wrk.format("GET", paths[math.random(#paths)], headers)
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%.0f %%.0f %%.0f\\n",
    summary.requests, summary.duration, summary.bytes,
    summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def lua(paths: Sequence[str], headers: dict[str, str]) -> str:
    quote = json.dumps  # a JSON string is a valid Lua string for these characters
    return LUA % {
        "paths": ", ".join(quote(p) for p in paths),
        "headers": ", ".join(f"[{quote(k)}] = {quote(v)}" for k, v in headers.items()),
    }


def wrk(
    base: str, script: Path, connections: int, duration: int, threads: int, case: str, side: str,
    server_pid: int,
) -> Run:  # fmt: skip
    before = loadavg()
    cpu_before = tree_cpu_seconds(server_pid)
    # a 30 s timeout: wrk's default (2 s) would drop the slowest answers from the percentiles
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s",
           "-s", str(script), base]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout  # noqa: S603
    cpu = tree_cpu_seconds(server_pid) - cpu_before
    after = loadavg()
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    requests, micros, nbytes, non2xx, errors, p50, p95, p99 = (float(x) for x in line.split()[1:])
    return Run(
        case=case,
        side=side,
        rps=requests / (micros / 1e6),
        p50=p50 / 1000,
        p95=p95 / 1000,
        p99=p99 / 1000,
        requests=int(requests),
        non2xx=int(non2xx),
        errors=int(errors),
        bytes_per=int(nbytes / requests) if requests else 0,
        load_before=before,
        load_after=after,
        cpu_ms=cpu * 1000 / requests if requests else 0.0,
    )


# -- the sandbox payment loop ------------------------------------------------------------------


async def pay_links(
    base: str, tokens: Sequence[str], concurrency: int
) -> tuple[list[float], Counter[int]]:
    """Open each link, tokenize the card as card.js does, submit; the submissions' seconds and
    their status codes."""
    gate = asyncio.Semaphore(concurrency)
    seconds: list[float] = []
    statuses: Counter[int] = Counter()
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=concurrency * 2))

    async def one(token: str) -> None:
        async with gate:
            # a payer's own cookie jar on the shared pool (not closed: that closes the pool)
            c = httpx.AsyncClient(base_url=base, transport=transport, timeout=60, trust_env=False)
            page = await c.get(f"/pay/{token}")
            tokenized = await c.post(
                "/sandbox/payment_methods",
                json={"number": GOOD_CARD, "exp": "12/30", "cvc": "123", "postal_code": "78701"},
            )
            form = {"_csrf_token": parse(page.text).csrf(),
                    "payment_method": str(tokenized.json()["id"]), "terms": "accepted"}  # fmt: skip
            start = time.perf_counter()
            r = await c.post(f"/pay/{token}", data=form)
            seconds.append(time.perf_counter() - start)
            statuses[r.status_code] += 1

    try:
        await asyncio.gather(*(one(t) for t in tokens))
    finally:
        await transport.aclose()
    return seconds, statuses


async def post_bare(base: str, count: int, concurrency: int) -> list[float]:
    gate = asyncio.Semaphore(concurrency)
    seconds: list[float] = []
    form = {"_csrf_token": "x" * 64, "payment_method": "pm_sandbox_visa_4242", "terms": "accepted"}
    async with httpx.AsyncClient(base_url=base, timeout=60, trust_env=False) as c:

        async def one() -> None:
            async with gate:
                start = time.perf_counter()
                (await c.post("/bare/payment", data=form)).raise_for_status()
                seconds.append(time.perf_counter() - start)

        await asyncio.gather(*(one() for _ in range(count)))
    return seconds


def loop_run(side: str, seconds: list[float], wall: float, bad: int, before: str) -> Run:
    q = statistics.quantiles(seconds, n=100) if len(seconds) > 1 else seconds * 99
    return Run(
        case="payment",
        side=side,
        rps=len(seconds) / wall,
        p50=q[49] * 1000,
        p95=q[94] * 1000,
        p99=q[98] * 1000,
        requests=len(seconds),
        non2xx=bad,
        errors=0,
        bytes_per=0,
        load_before=before,
        load_after=loadavg(),
    )


# -- the run -----------------------------------------------------------------------------------


def median(runs: list[Run], attr: str) -> float:
    return float(statistics.median(getattr(r, attr) for r in runs))


def report(runs: list[Run], cases: Sequence[str]) -> None:
    print(f"\n{'case':28} {'side':4} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'non2xx':>6} {'err':>4} {'B/resp':>7} {'CPU ms':>7}  load before -> after")  # fmt: skip
    for r in runs:
        print(f"{LABELS[r.case]:28} {r.side:4} {r.rps:9.1f} {r.p50:8.1f} {r.p95:8.1f} "
              f"{r.p99:8.1f} {r.non2xx:6} {r.errors:4} {r.bytes_per:7} {r.cpu_ms:7.3f}  "
              f"{r.load_before} -> {r.load_after}")  # fmt: skip
    print(
        "\n| case | app req/s | bare req/s | app ÷ bare | server CPU ms/req (bare) | p50 ms "
        "| p95 ms | p99 ms | non-2xx | load (1 min) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case in cases:
        app = [r for r in runs if r.case == case and r.side == "app"]
        bare = [r for r in runs if r.case == case and r.side == "bare"]
        if not app or not bare:
            continue
        a, b = median(app, "rps"), median(bare, "rps")
        load = sorted(r.load_after.split()[0] for r in app + bare)
        print(f"| {LABELS[case]} | {a:,.0f} | {b:,.0f} | {a / b:.3f} "
              f"| {median(app, 'cpu_ms'):.2f} ({median(bare, 'cpu_ms'):.2f}) "
              f"| {median(app, 'p50'):.1f} | {median(app, 'p95'):.1f} | {median(app, 'p99'):.1f} "
              f"| {sum(r.non2xx + r.errors for r in app)} | {load[0]}-{load[-1]} |")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="app vs bare handler, interleaved, with wrk")
    parser.add_argument("--db", default="100k", help="10k, 100k, 1m, sqlite-100k or a URL")
    parser.add_argument("--only", default=",".join(CASES), help="cases, comma-separated")
    parser.add_argument("--connections", type=int, help="wrk connections (default 64; search 16)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="A/B pairs per case")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server processes")
    parser.add_argument("--payments", type=int, default=200, help="links paid per payment round")
    parser.add_argument("--payment-concurrency", type=int, default=8)
    parser.add_argument("--report-days", default="30,90,366", help="reports: the spans asked")
    parser.add_argument("--source", default="HEAD", help="commit to serve ('.': working tree)")
    parser.add_argument("--redis", default=REDIS_URL, help="REDIS_URL of the server ('' : files)")
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = set(cases) - set(CASES)
    if unknown:
        raise SystemExit(f"unknown case(s) {sorted(unknown)}; choose from {', '.join(CASES)}")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (make bench does)")
    url = args.db if "://" in args.db else data.ensure(args.db, migrate=False).url

    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    src, commit = source.export(args.source, work)
    commit += f" (schema {source.migrate(url, src)})"
    print(f"bench/load.py {shlex.join(sys.argv[1:])}")
    print(f"commit {commit}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"database {url}, {args.workers} server processes, load {loadavg()}")  # fmt: skip
    bodies = work / "bodies"
    bodies.mkdir()
    env = server_env(
        url,
        work / "sandbox-ledger.db",
        WEB_CONCURRENCY=str(args.workers),
        REDIS_URL=args.redis,
        PAY_REQUESTS_PER_MINUTE="1000000000",
        LOG_LEVEL="WARNING",
    )
    app = start_server(env, src, ready_within=120)
    bare = None
    runs: list[Run] = []
    try:
        reserved = args.payments * args.rounds if "payment" in cases else 0
        sample, pay_slice = asyncio.run(sample_clients(url, SAMPLE, reserved))
        cookie = sign_in(app.url)
        staff = {"Cookie": cookie}
        hx = {"Cookie": cookie, "HX-Request": "true"}
        built: list[Case] = []
        for name in cases:
            conns = args.connections or DEFAULT_CONNECTIONS.get(name, 64)
            if name == "summary":
                paths = [f"/plus/clients/{c}/send-link?vehicle_id={v}&days=30" for c, v in sample]
                built.append(Case(name, paths, hx, conns))
            elif name == "search":
                built.append(Case(name, [f"/plus/?q={q}" for q in SEARCHES], hx, conns))
            elif name == "client":
                built.append(Case(name, [f"/plus/clients/{c}" for c, _ in sample], staff, conns))
            elif name == "history":
                paths = [f"/plus/clients/{c}/history" for c, _ in sample]
                built.append(Case(name, paths, staff, conns))
            elif name == "pay":
                started = time.monotonic()
                tokens = asyncio.run(make_links(url, [c for c, _ in sample[:200]], app.url))
                print(f"pay: {len(tokens)} links sent in {time.monotonic() - started:.1f} s")
                built.append(Case(name, [f"/pay/{t}" for t in tokens], {}, conns))
            elif name == "reports":
                boss = sign_in(app.url, "supervisor@demo.test", "demo-supervisor-pass")
                headers = {"Cookie": boss, "HX-Request": "true"}
                spans = [int(d) for d in args.report_days.split(",")]
                built.append(Case(name, asyncio.run(report_paths(url, spans)), headers, conns))
        # every path answers 200 before it is timed; the bare side answers the first one's bytes
        with httpx.Client(base_url=app.url, timeout=60, trust_env=False) as c:
            for case in built:
                for path in case.paths[:20]:
                    r = c.get(path, headers=case.headers)
                    if r.status_code != 200:
                        raise SystemExit(f"{case.name}: {path} answered {r.status_code}")
                    case.body = case.body or r.content
                (bodies / f"{case.name}.body").write_bytes(case.body)
        if "payment" in cases:
            (bodies / "payment.body").write_bytes(b"<p>Payment received</p>" * 40)
        port = free_port()
        log_path = work / "bare.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603
                [sys.executable, str(ROOT / "bench" / "bare.py"), "--port", str(port),
                 "--workers", str(args.workers)],
                cwd=ROOT, env=os.environ | {"BARE_DIR": str(bodies)},
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        bare = proc
        bare_url = f"http://127.0.0.1:{port}"
        wait_healthy(bare_url, proc, log_path, within=60)

        for case in built:
            app_lua, bare_lua = work / f"{case.name}.lua", work / f"{case.name}-bare.lua"
            app_lua.write_text(lua(case.paths, case.headers))
            bare_lua.write_text(lua([f"/bare/{case.name}"], case.headers))
            sides = (("app", app.url, app_lua, app.proc.pid),
                     ("bare", bare_url, bare_lua, proc.pid))  # fmt: skip
            for _ in range(args.rounds):
                for side, base, script, pid in sides:
                    run = wrk(base, script, case.connections, args.duration, args.threads,
                              case.name, side, pid)  # fmt: skip
                    runs.append(run)
                    print(f"  {LABELS[case.name]:28} {side:4} {run.rps:9.1f} req/s  "
                          f"CPU {run.cpu_ms:6.3f} ms/req  p99 {run.p99:7.1f} ms  load {run.load_before} -> {run.load_after}",
                          flush=True)  # fmt: skip
        if "payment" in cases:
            for rnd in range(args.rounds):
                chunk = pay_slice[rnd * args.payments : (rnd + 1) * args.payments]
                tokens = asyncio.run(make_links(url, chunk, app.url))
                before, started = loadavg(), time.perf_counter()
                secs, statuses = asyncio.run(pay_links(app.url, tokens, args.payment_concurrency))
                bad = sum(n for code, n in statuses.items() if code >= 400)
                runs.append(loop_run("app", secs, time.perf_counter() - started, bad, before))
                before, started = loadavg(), time.perf_counter()
                secs = asyncio.run(post_bare(bare_url, len(tokens), args.payment_concurrency))
                runs.append(loop_run("bare", secs, time.perf_counter() - started, 0, before))
                print(f"  {LABELS['payment']:28} round {rnd + 1}: {runs[-2].rps:.1f} payments/s, "
                      f"answers {dict(statuses)}", flush=True)  # fmt: skip
    finally:
        if bare is not None:
            bare.terminate()
            bare.wait(timeout=10)
        app.stop()
        (work / "server.log").write_bytes(app.log_path.read_bytes())
    report(runs, cases)
    print(f"\nserver log and wrk scripts: {work}")


if __name__ == "__main__":
    main()
