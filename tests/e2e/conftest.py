"""Browser tests: a real server on 127.0.0.1 and Playwright driving Debian's Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from app.clock import FixedClock
from app.main import create_app
from app.settings import Settings
from tests.conftest import NOW

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
REQUIRE_E2E = os.environ.get("REQUIRE_E2E") == "1"
INSTALL_CHROMIUM = (
    "install it with: sudo apt-get update && sudo apt-get install -y chromium"
    " (or run .ci/run), or point CHROMIUM_PATH at a Chromium binary"
)
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


@dataclass
class LiveServer:
    url: str
    clock: FixedClock
    app: Any
    settings: Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(sqlite_template: tuple[Path, Path], tmp_path: Path) -> Iterator[LiveServer]:
    db = tmp_path / "e2e.db"
    shutil.copy(sqlite_template[1], db)
    port = _free_port()
    settings = Settings(
        app_env="dev",
        database_url=f"sqlite+aiosqlite:///{db}",
        secret_key="e2e-secret-key-that-is-long-enough-0123456789",
        port=port,
        sms_poll_seconds=0.05,
        sandbox_ledger=str(tmp_path / "sandbox-ledger.db"),
        kv_path=str(tmp_path / "kv"),
        reconcile_every_seconds=0,  # tests run reconcile themselves, on the frozen clock
        _env_file=None,  # type: ignore[call-arg]
    )
    clock = FixedClock(NOW)
    app = create_app(settings, clock=clock)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:  # waiting for a socket to open, not for time to pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    yield LiveServer(url=f"http://127.0.0.1:{port}", clock=clock, app=app, settings=settings)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser(sqlite_template: tuple[Path, Path]) -> Iterator[Any]:
    # Depends on the database template so its asyncio.run() happens before Playwright's
    # sync API starts an event loop in this thread.
    if not Path(CHROMIUM).exists():
        if REQUIRE_E2E:
            pytest.fail(
                f"REQUIRE_E2E=1 (the default of `make test`) but Chromium is missing at {CHROMIUM}:"
                f" {INSTALL_CHROMIUM}; or run `make test REQUIRE_E2E=0` to skip the browser tests",
                pytrace=False,
            )
        pytest.skip(f"Chromium not installed at {CHROMIUM} ({INSTALL_CHROMIUM})")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield b
        b.close()


def _page(browser: Any, viewport: dict[str, int], server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(viewport=viewport, base_url=server.url)
    context.set_default_timeout(10_000)
    # Nothing beyond this machine: fail any request that is not to the test server.
    context.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith(server.url) else route.abort()
        ),
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


@pytest.fixture
def desktop(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    yield from _page(browser, DESKTOP, live_server)


@pytest.fixture
def phone(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    yield from _page(browser, PHONE, live_server)


def shot(page: Any, artifacts_dir: Path, name: str) -> Path:
    path = artifacts_dir / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def no_horizontal_scroll(page: Any) -> bool:
    return bool(
        page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )
