"""One typed settings object, read from the environment and an optional `.env` (SPEC §8)."""

from __future__ import annotations

import hashlib
import os
from datetime import time
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.domain.autopay import parse_retry_days

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRET = "dev-insecure-secret-change-me"  # noqa: S105 - a known default prod refuses
# A key of 40 spaces is long but guessable: prod wants some variety as well as length.
MIN_SECRET_LENGTH = 32
MIN_DISTINCT_SECRET_CHARS = 16


def _strong_secret(key: str) -> bool:
    return (
        key != DEFAULT_SECRET
        and len(key) >= MIN_SECRET_LENGTH
        and len(set(key)) >= MIN_DISTINCT_SECRET_CHARS
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    app_env: Literal["dev", "prod"] = "dev"
    host: str = "127.0.0.1"
    port: int = 8000
    # app processes behind the one port (each with its SMS worker and schedules); 0: one per core
    web_concurrency: int = 0
    database_url: str = f"sqlite+aiosqlite:///{ROOT / 'data' / 'monitorpay.db'}"
    secret_key: str = DEFAULT_SECRET
    public_base_url: str = ""  # defaults to http://{host}:{port}
    link_ttl_seconds: int = 600
    payments_gateway: Literal["sandbox", "stripe"] = "sandbox"
    # the sandbox processor's own ledger (shared by the server, `monitorpay reconcile` and other
    # instances; ":memory:" keeps it in one process)
    sandbox_ledger: str = str(ROOT / "data" / "sandbox-ledger.db")
    stripe_secret_key: str = ""
    stripe_publishable_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = ""  # tests point the SDK at a fake Stripe on 127.0.0.1
    # Apple Pay and Google Pay in the Payment Element (stripe mode; the sandbox keeps cards only)
    stripe_wallets: bool = True
    # the file Stripe gives for Apple Pay, served at /.well-known/ (stripe mode; "": not served)
    apple_pay_domain_association: str = ""
    sms_provider: Literal["outbox", "twilio"] = "outbox"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from_number: str = ""
    twilio_api_base: str = ""  # tests point the SDK at a fake Twilio on 127.0.0.1
    sms_worker: bool = True
    sms_poll_seconds: float = 1.0
    company_name: str = "Demo Interlock"
    support_phone: str = "+18005550199"
    session_max_age_seconds: int = 8 * 3600  # absolute: a session ends this long after sign-in
    staff_idle_seconds: int = 30 * 60  # idle: no request for this long ends a session
    client_idle_seconds: int = 15 * 60
    # Shared state for many instances (sessions, rate limits, sign-in throttling): Redis in
    # production; without it, files under KV_PATH (shared by the processes of one machine).
    redis_url: str = ""
    pay_requests_per_minute: int = 60  # per link, on /pay/{token}...
    pay_misses_per_minute: int = 30  # unknown tokens per client address, on /pay/...
    webhook_requests_per_minute: int = 600  # per client address, on /webhooks/...
    kv_path: str = str(ROOT / "data" / "kv")
    autopay_daily_at: time | None = None  # e.g. 06:00 (UTC): run AutoPay in-process every day
    autopay_concurrency: int = 16  # charges in flight at once during an AutoPay run
    # a soft decline (insufficient funds...) is tried again this many days after the first
    # failed attempt, while the period is unpaid (app/domain/autopay.py); "" never
    autopay_retry_days: str = "1,3,5"
    # AutoPay's pace: calls a second to the processor, shared by every worker and instance (in
    # Redis with REDIS_URL). Unset: under Stripe's limits (25/s test, 100/s live): 20 for test
    # keys and the sandbox, 80 for live keys. 0: no pacing.
    processor_rate_per_second: float | None = Field(default=None, ge=0)
    # the sandbox refuses (429's meaning) requests past this many a second, as Stripe's test
    # mode does; 0: no limit
    sandbox_rate_limit_per_second: float = Field(default=0, ge=0)
    remind_daily_at: time | None = None  # e.g. 15:00 (UTC): text reminders in-process daily
    # remind when a vehicle's paid-through date is this many days away (app/domain/reminders.py)
    remind_days_before: int = Field(default=3, ge=0, le=60)
    # resolve unresolved payments and lost refunds in-process: at start-up, then every N seconds
    # (0: never; run `monitorpay reconcile` from cron instead)
    reconcile_every_seconds: float = 60
    resolve_in_background: bool = True  # ask the processor at once after a lost answer
    reconcile_grace_seconds: float = 30  # younger payments may still be in their request's hands
    db_pool_size: int = 20  # connections per process; a request uses at most one
    db_pool_timeout_seconds: float = 3  # an exhausted pool answers 503 after this, never hangs
    log_level: str = "INFO"
    # "text": key=value lines; "json": one JSON object a line, for a log shipper
    log_format: Literal["text", "json"] = "text"
    # prod: /metrics answers only `Authorization: Bearer <this>` (unset: 404); dev: open
    metrics_token: str = ""

    @model_validator(mode="after")
    def _prod_is_real(self) -> Settings:
        if self.app_env == "prod":
            problems = []
            if self.payments_gateway == "sandbox":
                problems.append("PAYMENTS_GATEWAY=sandbox")
            if self.sms_provider == "outbox":
                problems.append("SMS_PROVIDER=outbox")
            if self.sms_provider == "twilio" and not (
                self.twilio_account_sid and self.twilio_auth_token and self.twilio_from_number
            ):
                problems.append("SMS_PROVIDER=twilio without its account SID, token and number")
            if self.payments_gateway == "stripe" and not (
                self.stripe_secret_key and self.stripe_webhook_secret
            ):
                problems.append("PAYMENTS_GATEWAY=stripe without its secret and webhook keys")
            if not self.public_base_url.startswith("https://"):
                problems.append("PUBLIC_BASE_URL is not an https:// address")
            if not _strong_secret(self.secret_key):
                problems.append(
                    "SECRET_KEY is the default, shorter than 32 characters or has fewer than "
                    f"{MIN_DISTINCT_SECRET_CHARS} different characters (make one with "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                )
            if problems:
                raise ValueError("APP_ENV=prod refuses to start with: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _wallets_make_sense(self) -> Settings:
        path = self.apple_pay_domain_association
        if not path:
            return self
        if self.payments_gateway != "stripe":
            raise ValueError(
                "APPLE_PAY_DOMAIN_ASSOCIATION is only used with PAYMENTS_GATEWAY=stripe"
            )
        file = Path(path)
        if not file.is_file():
            raise ValueError(f"APPLE_PAY_DOMAIN_ASSOCIATION: no such file: {path}")
        size = file.stat().st_size
        if not 0 < size <= 100_000:
            raise ValueError(
                f"APPLE_PAY_DOMAIN_ASSOCIATION: {path} is {size} bytes; expected the file"
                " Stripe gives (a few kilobytes)"
            )
        return self

    @model_validator(mode="after")
    def _retry_days_parse(self) -> Settings:
        self.retry_days  # noqa: B018 - a bad AUTOPAY_RETRY_DAYS stops start-up, named
        return self

    @property
    def retry_days(self) -> tuple[int, ...]:
        """AUTOPAY_RETRY_DAYS as days after the first failed attempt (domain/autopay.py)."""
        return parse_retry_days(self.autopay_retry_days)

    @property
    def wallets(self) -> bool:
        """Apple Pay and Google Pay are offered (where the browser and Stripe allow them)."""
        return self.payments_gateway == "stripe" and self.stripe_wallets

    @property
    def processor_rate(self) -> float:
        """PROCESSOR_RATE_PER_SECOND, or the default under the account's documented limit."""
        if self.processor_rate_per_second is not None:
            return self.processor_rate_per_second
        live = self.payments_gateway == "stripe" and self.stripe_secret_key.startswith(
            ("sk_live_", "rk_live_")
        )
        return 80.0 if live else 20.0

    @property
    def processes(self) -> int:
        return self.web_concurrency if self.web_concurrency > 0 else (os.cpu_count() or 1)

    @property
    def is_dev(self) -> bool:
        return self.app_env == "dev"

    @property
    def async_database_url(self) -> str:
        url = self.database_url
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        if url.startswith("postgresql://"):
            url = "postgresql+asyncpg://" + url[len("postgresql://") :]
        if url.startswith("sqlite:///"):
            url = "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
        return url

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @cached_property
    def session_secret(self) -> bytes:
        return hashlib.sha256(b"session:" + self.secret_key.encode()).digest()

    @cached_property
    def csrf_secret(self) -> str:
        return hashlib.sha256(b"csrf:" + self.secret_key.encode()).hexdigest()
