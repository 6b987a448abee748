"""A long vehicle name at 320 px (issue 22 item 5): My Account's vehicle choice wraps it in full
(cards, not a native select that cuts it), the pay page's summary wraps it, and nothing scrolls
sideways. James reads in Spanish here, so the seeded fee is said by its catalog's Spanish text."""

from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from app.store.models import Client, Vehicle
from tests.e2e.conftest import LiveServer, no_horizontal_scroll, shot
from tests.e2e.test_send_link import open_client, sign_in_agent

LONG = "2019 Chevrolet Silverado 2500HD Crew Cab"
NARROW = {"width": 320, "height": 740}


def settled(page: Any) -> None:
    expect(page.locator(".htmx-settling, .htmx-request, .htmx-swapping")).to_have_count(0)


def add_long_named_vehicle(server: LiveServer) -> int:
    """James Carter's third vehicle, with a long name; James reads in Spanish."""
    engine = create_engine(server.settings.database_url.replace("+aiosqlite", ""))
    with Session(engine) as s:
        james = s.execute(select(Client).where(Client.account_number == "100002")).scalar_one()
        f150 = s.execute(
            select(Vehicle).where(Vehicle.client_id == james.id, Vehicle.model == "F-150")
        ).scalar_one()
        truck = Vehicle(
            client_id=james.id or 0, year=2019, make="Chevrolet", model="Silverado 2500HD Crew Cab",
            plate="JCR-2500", device_serial="IID-52500", billing_cycle_days=30,
            paid_through=f150.paid_through + timedelta(days=3),
        )  # fmt: skip
        s.add(truck)
        s.execute(update(Client).where(Client.id == james.id).values(language="es"))
        s.commit()
        truck_id = truck.id or 0
    engine.dispose()
    return truck_id


def fits(locator: Any, width: int = 320) -> bool:
    """Nothing of the element is cut: its content is no wider than its box, and the box is
    inside the viewport's width."""
    return bool(
        locator.evaluate(
            """(e, w) => { const r = e.getBoundingClientRect();
                  return e.scrollWidth <= e.clientWidth && r.left >= 0 && r.right <= w; }""",
            width,
        )
    )


def test_a_long_vehicle_name_is_shown_in_full_at_320_px(
    desktop: Any, phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    truck_id = add_long_named_vehicle(live_server)
    page = phone
    page.set_viewport_size(NARROW)
    page.goto("/account/login")
    page.locator("#account_number").fill("100002")
    page.locator("#password").fill("demo-client-pass")
    page.locator("form button[type=submit]").click()
    expect(page.locator("html")).to_have_attribute("lang", "es-US")
    # The seeded fee is a charge of the catalog: said in Spanish.
    expect(page.locator(".invoice-item[data-status=past-due]")).to_contain_text(
        "Cargo por cita perdida"
    )

    page.goto("/account/payment")
    page.wait_for_load_state()
    choice = page.locator("#vehicle")
    expect(choice.locator("input[name=vehicle_id]")).to_have_count(3)
    option = choice.locator("label", has=page.locator(f"#vehicle-{truck_id}"))
    expect(option.locator(".vehicle-name")).to_have_text(LONG)  # the whole name, on view
    assert fits(option) and fits(option.locator(".vehicle-name"))
    assert no_horizontal_scroll(page)
    page.locator(f"#vehicle-{truck_id}").check()
    settled(page)
    expect(page.locator("#payment-summary")).to_contain_text(LONG)
    expect(page.locator(f"#vehicle-{truck_id}")).to_be_checked()
    assert no_horizontal_scroll(page)
    option.scroll_into_view_if_needed()
    shot(page, artifacts_dir, "vehicle-choice-01-my-account-es-320")
    # By keyboard: the cards are one radio group, arrows move between vehicles.
    page.locator(f"#vehicle-{truck_id}").focus()
    page.keyboard.press("ArrowUp")
    settled(page)
    expect(page.locator(f"#vehicle-{truck_id}")).not_to_be_checked()
    expect(page.locator("#payment-summary")).not_to_contain_text(LONG)

    # AutoPay: each vehicle's card is a radio whose label wraps in full (a select cut it).
    page.goto("/account/payment/autopay")
    truck_cards = page.locator(f"#autopay-{truck_id} .card-choice")
    expect(truck_cards).to_have_count(1)
    expect(truck_cards).to_contain_text("Mastercard")
    expect(truck_cards.locator("input")).to_be_checked()  # the default card, as the select had
    assert fits(truck_cards) and no_horizontal_scroll(page)
    page.locator(f"#autopay-{truck_id}").get_by_role("radio", name="30").check()
    page.locator(f"#autopay-{truck_id}").get_by_role("button").click()
    expect(page.locator(f"#autopay-{truck_id} .autopay-state")).to_contain_text("30")
    shot(page, artifacts_dir, "vehicle-choice-04-autopay-es-320")

    # The pay page: staff text a link for the truck; its summary wraps the name in full.
    staff = desktop
    sign_in_agent(staff)
    open_client(staff, "carter", "Carter, James")
    # PLUS Take Payment: short options, the chosen vehicle in full beside them.
    staff.get_by_role("link", name="Account History").click()
    staff.wait_for_load_state()
    staff.get_by_role("link", name="Take Payment").click()
    expect(staff.locator("#invoice-summary")).to_be_visible()
    settled(staff)
    staff.get_by_label("Vehicle", exact=True).select_option(value=str(truck_id))
    expect(staff.locator("#tp-vehicle-chosen")).to_contain_text(f"{LONG} (JCR-2500): 30-day")
    settled(staff)
    assert fits(staff.locator("#tp-vehicle-chosen"), width=1280)
    staff.locator("#history-action").screenshot(
        path=str(artifacts_dir / "vehicle-choice-03-take-payment-1280.png")
    )
    staff.get_by_role("link", name="Account Information").click()
    staff.wait_for_load_state()
    staff.get_by_role("link", name="Send Secure Payment Link").click()
    vehicle = staff.get_by_label("Vehicle", exact=True)
    vehicle.select_option(value=str(truck_id))
    # Short options, the chosen vehicle's cycle and date beside them (a long option was cut).
    expect(staff.locator("#vehicle-chosen")).to_have_text("30-day cycle, paid through Nov 27, 2026")
    assert fits(vehicle, width=1280) and fits(staff.locator("#vehicle-chosen"), width=1280)
    staff.get_by_role("button", name="Get Summary").click()
    expect(staff.locator("#invoice-summary")).to_contain_text(LONG)
    staff.get_by_role("button", name="Send Message").click()
    expect(staff.locator("#link-status .status")).to_have_text("Delivered")
    staff.goto("/dev/sms")
    link = staff.locator(".sms").first.locator("a").get_attribute("href")
    assert link and "/pay/" in link
    page.goto(link)
    expect(page.locator("#payment-summary")).to_contain_text("Silverado 2500HD Crew Cab")
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "vehicle-choice-02-pay-page-es-320")
    assert page.js_errors == []
