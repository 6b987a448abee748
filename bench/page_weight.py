"""What a phone downloads for the Secure Payment page, counted on the socket.

Starts `monitorpay serve` (one process, sandbox, a throwaway seeded SQLite database), sends a
link the way staff do, and fetches the page as a browser would, with `Accept-Encoding: br, gzip`:
- first visit: the HTML, then every stylesheet and script it references;
- repeat visit: the HTML alone (the assets have fingerprinted URLs, cached as immutable, and are
  not asked for again; a response that lacks the immutable header is counted again).
Each figure is what the server wrote on the socket: status line, headers and body as sent.
Prints figures and asserts nothing. Aim (issue 12): <= 12 KB first visit, <= 6 KB repeat.

    .venv/bin/python bench/page_weight.py
    .venv/bin/python bench/page_weight.py --encoding gzip        # a client without brotli
    .venv/bin/python bench/page_weight.py --encoding identity    # nothing compressed

It also models the first render on a slow mobile link (`--rtt`, `--kbps`: the defaults are
Lighthouse's slow 4G) with the stylesheet linked, as it is, and inlined in the page.
"""

from __future__ import annotations

import argparse
import gzip
import re
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import brotli  # noqa: E402

from app.store.db import make_engine, make_sessionmaker  # noqa: E402
from bench.seeded import run_on_seeded_database  # noqa: E402
from tests.servers import client_id_of, send_links, server_env, start_server  # noqa: E402

FIRST_AIM = 12 * 1024
REPEAT_AIM = 6 * 1024
IMMUTABLE = "immutable"


@dataclass
class Fetched:
    path: str
    status: int
    headers: dict[str, str]
    cookies: list[str]
    header_bytes: int
    wire_bytes: int
    body: bytes  # decoded


def fetch(port: int, path: str, encoding: str, cookies: list[str] | None = None) -> Fetched:
    """One GET on a fresh connection (`Connection: close`): every byte the server sends."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "User-Agent: page-weight",
        "Accept: */*",
        f"Accept-Encoding: {encoding}",
        *([f"Cookie: {'; '.join(cookies)}"] if cookies else []),
        "Connection: close",
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    cookies_set: list[str] = []
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
        if name.strip().lower() == "set-cookie":
            cookies_set.append(value.strip().split(";", 1)[0])
    if "chunked" in headers.get("transfer-encoding", ""):
        raise SystemExit(f"{path}: a chunked response; this bench reads whole bodies only")
    coding = headers.get("content-encoding", "identity")
    decoded = {"br": brotli.decompress, "gzip": gzip.decompress}.get(coding, bytes)(body)
    return Fetched(
        path=path,
        status=int(status_line.split()[1]),
        headers=headers,
        cookies=cookies_set,
        header_bytes=len(head) + 4,
        wire_bytes=len(data),
        body=decoded,
    )


def render_ms(rtt_ms: float, kbps: float, *round_trips: int) -> float:
    """A crude model of the first render on an open connection: each round trip waits one RTT
    and then its bytes at the link's rate."""
    return sum(rtt_ms + size * 8 / kbps for size in round_trips)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoding", default="br, gzip", help="the Accept-Encoding sent")
    parser.add_argument("--rtt", type=float, default=150.0, help="round-trip time, ms")
    parser.add_argument("--kbps", type=float, default=1638.4, help="download rate, kbit/s")
    args = parser.parse_args()

    async def measure(url: str) -> None:
        engine = make_engine(url)
        maker = make_sessionmaker(engine)
        [(_, token)] = await send_links(maker, [await client_id_of(maker, "100002")])
        await engine.dispose()
        with tempfile.TemporaryDirectory() as tmp:
            env = server_env(url, Path(tmp) / "ledger.db")
            with start_server(env, Path(tmp)) as server:
                report(server.port, f"/pay/{token}", args)

    run_on_seeded_database(0, measure)


def report(port: int, page_path: str, args: argparse.Namespace) -> None:
    page = fetch(port, page_path, args.encoding)
    if page.status != 200:
        raise SystemExit(f"the Secure Payment page answered {page.status}")
    html = page.body.decode()
    links = re.findall(r'(?:href|src)="(/static/[^"]+)"', html)
    assets = [fetch(port, path, args.encoding, page.cookies) for path in links]
    repeat = fetch(port, page_path, args.encoding, page.cookies)
    # A repeat visit asks again for what it may not keep.
    refetched = [a for a in assets if IMMUTABLE not in a.headers.get("cache-control", "")]

    print(f"Accept-Encoding: {args.encoding}")
    print(f"{'first visit':44} {'encoding':>8} {'body':>7} {'headers':>7} {'wire':>7}")
    for f in [page, *assets]:
        coding = f.headers.get("content-encoding", "-")
        body = f.wire_bytes - f.header_bytes
        print(f"{f.path[:44]:44} {coding:>8} {body:>7,} {f.header_bytes:>7,} {f.wire_bytes:>7,}")
    first = page.wire_bytes + sum(a.wire_bytes for a in assets)
    second = repeat.wire_bytes + sum(a.wire_bytes for a in refetched)
    print(f"{'first visit, total on the wire':44} {'':>8} {'':>7} {'':>7} {first:>7,}")
    print(f"{'repeat visit (HTML + assets not immutable)':44} {'':>8} {'':>7} {'':>7} {second:>7,}")
    for name, value, aim in (("first", first, FIRST_AIM), ("repeat", second, REPEAT_AIM)):
        verdict = "within" if value <= aim else f"OVER by {value - aim:,}"
        print(f"aim {name} visit <= {aim:,} bytes: {verdict}")

    css = sum(a.wire_bytes - a.header_bytes for a in assets if ".css" in a.path)
    linked = render_ms(args.rtt, args.kbps, page.wire_bytes, css)
    inlined = render_ms(args.rtt, args.kbps, page.wire_bytes + css)
    print(
        f"first render, modelled at {args.rtt:.0f} ms RTT and {args.kbps:.0f} kbit/s: "
        f"CSS linked {linked:.0f} ms, inlined {inlined:.0f} ms (then {css:,} more bytes on "
        "every visit: the page itself is never cached)"
    )


if __name__ == "__main__":
    main()
