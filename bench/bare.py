"""The bare handler bench/load.py compares the app with: a Litestar app that answers
`GET|POST /bare/<name>` with the bytes of `<BARE_DIR>/<name>.body` (a page the real server
sent), served by the same uvicorn, the same way `monitorpay serve` runs (app/cli.py `_serve`):

    BARE_DIR=/tmp/bodies .venv/bin/python bench/bare.py --port 9101 --workers 2
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from litestar import Litestar, Response, get, post


def create_app() -> Litestar:
    bodies = {p.stem: p.read_bytes() for p in Path(os.environ["BARE_DIR"]).glob("*.body")}

    @get("/bare/{name:str}", sync_to_thread=False)
    def page(name: str) -> Response[bytes]:
        return Response(bodies[name], media_type="text/html; charset=utf-8")

    @post("/bare/{name:str}", sync_to_thread=False, status_code=200)
    def submit(name: str) -> Response[bytes]:
        return Response(bodies[name], media_type="text/html; charset=utf-8")

    @get("/healthz", sync_to_thread=False)
    def healthz() -> str:
        return "ok"

    return Litestar([page, submit, healthz], debug=False)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    uvicorn.run(
        "bench.bare:create_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
