"""What a batch of dependencies resolved side by side costs a request, in-process: Litestar runs
a batch of two or more in an anyio task group (a task each). Route A's provider takes `db`,
`clock` and `settings` as dependencies (the pay page's shape before ad62ce6); route B's takes
`db` and reads the clock and settings from the app's state (after). Alternated, process CPU.

    .venv/bin/python bench/di_batches.py [--rounds 7] [--requests 3000]

Prints the median µs per request of each; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncGenerator
from typing import Any

from litestar import Controller, Litestar, Request, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import FromPath


class Clock:
    def now(self) -> int:
        return 0


async def provide_db(state: State) -> AsyncGenerator[object, None]:
    yield object()


def provide_settings(state: State) -> Any:
    return state.settings


def provide_clock(state: State) -> Any:
    return state.clock


async def visit_injected(
    db: Any, clock: Any, settings: Any, token: FromPath[str]
) -> tuple[Any, ...]:
    return (db, clock.now(), settings, token)


async def visit_from_state(
    request: Request[Any, Any, Any], db: Any, token: FromPath[str]
) -> tuple[Any, ...]:
    return (db, request.app.state.clock.now(), request.app.state.settings, token)


def controller(prefix: str, provider: Any) -> type[Controller]:
    """A controller at `prefix` whose one page takes the "visit" that `provider` gives."""

    @get("/{token:str}")
    async def page(self: Controller, visit: Any) -> str:
        return "ok"

    attributes = {"path": prefix, "dependencies": {"visit": Provide(provider)}, "page": page}
    return type(f"Visit{prefix.strip('/').upper()}", (Controller,), attributes)


APP = Litestar(
    [controller("/a", visit_injected), controller("/b", visit_from_state)],
    state=State({"settings": object(), "clock": Clock()}),
    dependencies={
        "db": Provide(provide_db),
        "settings": Provide(provide_settings, sync_to_thread=False),
        "clock": Provide(provide_clock, sync_to_thread=False),
    },
    logging_config=None,
)


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Any) -> None:
    return None


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http", "http_version": "1.1", "method": "GET", "scheme": "http", "path": path,
        "raw_path": path.encode(), "query_string": b"", "headers": [(b"host", b"x")],
        "client": ("127.0.0.1", 1), "server": ("x", 80), "root_path": "", "state": {},
    }  # fmt: skip


async def _run(path: str, n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        await APP(_scope(path), _receive, _send)  # type: ignore[arg-type]
    return (time.process_time() - started) / n * 1e6


async def _main(rounds: int, requests: int) -> None:
    injected, from_state = [], []
    for _ in range(rounds):
        injected.append(await _run("/a/token", requests))
        from_state.append(await _run("/b/token", requests))
    for name, runs in (("db, clock, settings injected", injected), ("from app state", from_state)):
        each = ", ".join(f"{x:.1f}" for x in sorted(runs))
        print(f"{name:30} median {statistics.median(runs):6.1f} µs/request ({each})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args(argv)
    asyncio.run(_main(args.rounds, args.requests))


if __name__ == "__main__":
    main()
