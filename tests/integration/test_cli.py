"""The `monitorpay` command: setup migrates and seeds once, never in prod; autopay reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "cli.db"
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("APP_ENV", "dev")
    return db


def test_setup_seeds_an_empty_database_once(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["setup"]) == 0
    assert "demo data loaded" in capsys.readouterr().out
    assert main(["setup"]) == 0
    assert "already has data" in capsys.readouterr().out
    assert main(["autopay"]) == 0  # nobody is enrolled: nothing to charge
    assert "autopay: 0 charged ($0.00), 0 failed" in capsys.readouterr().out


def test_prod_never_gets_demo_logins(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in {
        "APP_ENV": "prod",
        "SECRET_KEY": "0123456789abcdef0123456789abcdef-prod",
        "PAYMENTS_GATEWAY": "stripe",
        "STRIPE_SECRET_KEY": "sk_test_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "SMS_PROVIDER": "twilio",
        "TWILIO_ACCOUNT_SID": "AC123",
        "TWILIO_AUTH_TOKEN": "t",
        "TWILIO_FROM_NUMBER": "+15125550100",
        "PUBLIC_BASE_URL": "https://pay.example.test",
    }.items():
        monkeypatch.setenv(key, value)
    assert main(["setup"]) == 0
    assert "not in prod" in capsys.readouterr().out


def test_prod_with_the_sandbox_refuses_to_start(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("APP_ENV", "prod")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "PAYMENTS_GATEWAY=sandbox" in err and "SMS_PROVIDER=outbox" in err
    assert "PUBLIC_BASE_URL is not an https:// address" in err


@pytest.mark.parametrize("env_name", ["test", "staging", "production"])
def test_app_env_is_dev_or_prod_and_nothing_else(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env_name: str
) -> None:
    monkeypatch.setenv("APP_ENV", env_name)
    assert main(["serve"]) == 2
    assert "app_env" in capsys.readouterr().err.lower()


def test_wallets_domain_is_a_command_and_refuses_the_sandbox(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["wallets-domain"]) == 2  # the sandbox has no wallets to register
    assert "sandbox has no wallets" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("secret", "refused"),
    [
        (" " * 40, True),  # long, one character
        ("ab" * 20, True),  # long, two characters
        ("0123456789abcde" * 3, True),  # 45 characters, 15 different
        ("0123456789abcdef" * 2, False),  # 32 characters, 16 different
        ("short-but-varied-0123456789", True),  # 27 characters
    ],
)
def test_prod_refuses_a_secret_key_that_is_short_or_has_little_variety(
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    secret: str,
    refused: bool,
) -> None:
    monkeypatch.setenv("APP_ENV", "prod")
    monkeypatch.setenv("SECRET_KEY", secret)
    assert main(["serve"]) == 2  # the sandbox is refused in any case
    err = capsys.readouterr().err
    assert ("SECRET_KEY is the default" in err) is refused
