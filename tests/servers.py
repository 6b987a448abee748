"""Real servers for tests and benches: `monitorpay serve` in a subprocess on 127.0.0.1, links
sent the way staff send them (straight into the same database), and the `monitorpay` CLI.

A server is ready when `/healthz` answers 200; waiting is polling that socket, bounded. Its
output goes to a log file in the working directory (never a pipe that could fill up and stall
it); `log_tail()` puts the end of it into a failing assertion's message.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.services import send_link
from app.services.sealed import SecretBox
from app.services.summary import load_account
from app.settings import Settings
from app.store.models import Client, StaffUser

SECRET_KEY = "over-http-secret-key-that-is-long-enough-0123456789"
# Every variable Settings reads: dropped from the inherited environment so a developer's own
# configuration never leaks into a server under test.
SETTINGS_ENV = frozenset(name.upper() for name in Settings.model_fields)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(database_url: str, ledger: Path, **overrides: str) -> dict[str, str]:
    """The environment of a server (or CLI run) on this database with the sandbox gateway,
    its ledger in `ledger` (and the key-value store beside it, shared by the servers of one
    test), no SMS worker and no reconcile loop (the caller runs reconcile)."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTINGS_ENV}
    env |= {
        "APP_ENV": "dev",
        "HOST": "127.0.0.1",
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "SANDBOX_LEDGER": str(ledger),
        "KV_PATH": str(ledger.parent / "kv"),
        "WEB_CONCURRENCY": "1",  # one process per server: a test starting two means two
        "SMS_WORKER": "false",
        "RECONCILE_EVERY_SECONDS": "0",
        "RECONCILE_GRACE_SECONDS": "0",
        "PAY_REQUESTS_PER_MINUTE": "100000",  # a hundred payers here share one address
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    return env | overrides


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as when the machine loses the process."""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log_path: Path, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode} before it was ready:\n"
                + log_path.read_text(errors="replace")[-4000:]
            )
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"server not healthy within {within}s:\n"
                + log_path.read_text(errors="replace")[-4000:]
            )
        time.sleep(0.05)  # the next poll of the socket


def start_server(
    env: dict[str, str], workdir: Path, port: int | None = None, ready_within: float = 30
) -> ServerProcess:
    """`monitorpay serve` in `workdir` (no stray .env there), ready when /healthz says so."""
    port = port or free_port()
    log_path = workdir / f"server-{port}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            cwd=workdir,
            env=env | {"PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log_path, ready_within)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        raise
    return ServerProcess(proc=proc, url=url, port=port, log_path=log_path)


def run_cli(
    args: Sequence[str], env: dict[str, str], workdir: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`monitorpay <args>` as an operator (or cron) runs it, bounded in time."""
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "app.cli", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def send_links(
    maker: async_sessionmaker[AsyncSession],
    client_ids: Sequence[int],
    *,
    days: int = 30,
    ttl_seconds: int = 600,
    now: datetime | None = None,
    vehicle_label: str = "",
    base_url: str = "http://127.0.0.1:8000",
) -> list[tuple[int, str]]:
    """Send each client a Secure Payment link as the demo agent does (PLUS Web's service,
    against the server's database); (link id, token) per client, in order. `now` is the real
    time by default: the server under test runs on the system clock."""
    box = SecretBox(SECRET_KEY)
    out: list[tuple[int, str]] = []
    async with maker() as s:
        staff = (
            await s.execute(select(StaffUser).where(col(StaffUser.email) == "agent@demo.test"))
        ).scalar_one()
        for client_id in client_ids:
            account = await load_account(s, client_id)
            vehicle = next(v for v in account.vehicles if vehicle_label in v.label)
            sent = await send_link.send(
                s,
                staff=staff,
                client_id=client_id,
                vehicle_id=vehicle.id or 0,
                days=days,
                raw_phone=account.client.phone_e164,
                reviewed=None,
                now=now or datetime.now(UTC),
                ttl_seconds=ttl_seconds,
                base_url=base_url,
                company="Demo Interlock",
                box=box,
            )
            out.append((sent.link.id or 0, sent.token))
    return out


async def client_id_of(maker: async_sessionmaker[AsyncSession], account_number: str) -> int:
    async with maker() as s:
        found = (
            await s.execute(
                select(col(Client.id)).where(col(Client.account_number) == account_number)
            )
        ).scalar_one()
    assert found is not None
    return int(found)
