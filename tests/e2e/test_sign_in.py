from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, no_horizontal_scroll, shot


def test_staff_signs_in_and_a_bad_password_is_explained(desktop: Any, artifacts_dir: Path) -> None:
    desktop.goto("/plus")
    expect(desktop).to_have_url("/plus/login?next=/plus")
    desktop.get_by_label("Work email").fill("agent@demo.test")
    desktop.get_by_label("Password").fill("wrong-password")
    desktop.get_by_role("button", name="Sign in").click()
    expect(desktop.locator("#password-error")).to_contain_text("not right")
    expect(desktop.get_by_label("Work email")).to_have_value("agent@demo.test")
    shot(desktop, artifacts_dir, "staff-login-error-1280")
    desktop.get_by_label("Password").fill("demo-agent-pass")
    desktop.get_by_role("button", name="Sign in").click()
    expect(desktop.locator(".topbar")).to_contain_text("Alex Agent")
    shot(desktop, artifacts_dir, "staff-home-1280")
    assert desktop.js_errors == []


def test_client_signs_in_on_a_phone(phone: Any, artifacts_dir: Path) -> None:
    phone.goto("/account/login")
    shot(phone, artifacts_dir, "client-login-360")
    assert no_horizontal_scroll(phone)
    phone.get_by_label("Account number").fill("100001")
    phone.get_by_label("Password").fill("demo-client-pass")
    phone.get_by_role("button", name="Sign in").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Account Information")
    assert no_horizontal_scroll(phone)
    shot(phone, artifacts_dir, "client-home-360")
    assert phone.js_errors == []


def test_staff_idle_for_half_an_hour_are_told_why_and_return_to_their_page(
    desktop: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    desktop.goto("/plus/login")
    desktop.get_by_label("Work email").fill("agent@demo.test")
    desktop.get_by_label("Password").fill("demo-agent-pass")
    desktop.get_by_role("button", name="Sign in").click()
    expect(desktop.locator(".topbar")).to_contain_text("Alex Agent")
    desktop.goto("/plus/clients/1")
    expect(desktop.get_by_role("heading", level=1)).to_be_visible()
    live_server.clock.advance(minutes=31)
    desktop.reload()
    expect(desktop).to_have_url("/plus/login?next=/plus/clients/1")
    expect(desktop.locator("#signed-out-notice")).to_contain_text(
        "You were signed out after 30 minutes without activity"
    )
    shot(desktop, artifacts_dir, "staff-idle-signed-out-1280")
    desktop.get_by_label("Work email").fill("agent@demo.test")
    desktop.get_by_label("Password").fill("demo-agent-pass")
    desktop.get_by_role("button", name="Sign in").click()
    expect(desktop).to_have_url("/plus/clients/1")
    assert desktop.js_errors == []
