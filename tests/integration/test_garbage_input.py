"""Garbage in any field of any form, any query parameter or any id in a path gets a 4xx (or a
redirect, or the form again), never a 5xx. The routes and their fields are read from the app and
its templates, so a new route or field is covered without editing this file."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from app.domain.money import parse_amount
from app.domain.numbers import parse_id, parse_whole
from app.domain.periods import parse_days
from app.store.models import CardOnFile, Client, Invoice, Payment, Vehicle
from tests.conftest import csrf_for, sign_in_client, sign_in_staff
from tests.integration.test_pay import make_link

GARBAGE = ["", "abc", "-1", "0", "99999999999999999999", "1e9", "<script>", "14.5", "../", "\x00"]

# Numbers as Python's int() or str.isdigit() would take them, and the things around them.
HOSTILE = [
    "²",  # isdigit() but not int()-able: the 500 this file was written for
    "٣",  # Arabic-Indic 3: int() takes it
    "１４",  # full-width 14
    "３０",
    "𝟑",  # mathematical bold 3
    "⑭",
    "+1",
    "-1",
    " 1",
    "1 4",
    "1_0",
    "0x1f",
    "1e3",
    "14.0",
    "",
    " ",
    "\x00",
    "1\x00",
    "\u00a014",
    "9" * 19,
    "9" * 5000,  # int() of more than 4,300 digits raises
    "2147483648",
    "0",
    "00000000001",
    "$1,000,000,000,000.00",
    "85.00\n",
    # C0 control characters: PostgreSQL refuses NUL in text (web/forms.py refuses them all)
    "a\x00b",
    "\x01",
    "1\x1b",
    "\x1f14",
    "Carter\r\nx",
]
# Fields that carry numbers (ids, days, amounts) or a processor token.
NUMBER_FIELDS = {
    "vehicle_id", "quoted_vehicle_id", "days", "card", "card_id", "move_autopay_to", "amount",
    "reviewed", "pending_payment", "payment_method", "account_number",
}  # fmt: skip
# Reported, not ours to fix here: the Secure Payment page answers a payment-method token the
# processor cannot read (a hand-made one) with 503, as if the processor were down; it is the
# payer's input, a 422. Remove this entry once app/web/pay.py maps InvalidPaymentMethod.
KNOWN_5XX: set[tuple[str, str, int]] = set()
# Every route with each of these; hypothesis draws from all of HOSTILE and beyond.
SWEEP = ["²", "٣", "１４", "+1", " 1", "1_0", "", "\x00", "a\x00b", "\x1b", "9" * 19, "9" * 5000]
ONE_FIELD_AT_A_TIME = {"²"}  # also alone among valid values, field by field
UNICODE_DIGITS = "²³¹٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵६७८९০১২৩０１２３４５６７８９𝟎𝟏𝟐𝟑⁰⁴₀₁①②⑭"
C0 = "".join(map(chr, range(0x20)))
hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(alphabet=UNICODE_DIGITS + "0123456789+-_ .,$e\x00\t\u00a0", max_size=24),
    st.text(alphabet=C0 + "aé1 @.-", min_size=1, max_size=12),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.text(max_size=12),
)

TEMPLATES = Path(__file__).resolve().parents[2] / "app" / "templates"
_FIELD = re.compile(
    r'<(?:input|select|textarea|button)\b[^>]*?\bname="([A-Za-z_][A-Za-z0-9_-]*)"'
    r'|\bfield\("([A-Za-z_][A-Za-z0-9_]*)"'
)
NOT_INPUT = {"request", "self", "db", "staff", "me", "state", "data", "body"}


def form_fields() -> set[str]:
    """Every named field of every form in the templates (the CSRF token aside)."""
    names = {a or b for f in TEMPLATES.rglob("*.html") for a, b in _FIELD.findall(f.read_text())}
    return names - {"_csrf_token"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # Litestar's path, with {name:type} placeholders
    query: frozenset[str]

    def url(self, ids: dict[str, str]) -> str:
        def fill(m: re.Match[str]) -> str:
            name, kind = m.group(1), m.group(2)
            if kind == "int":
                return quote(ids.get(name, "1"), safe="")
            if kind == "path":
                return "app.css"
            return "x"

        return re.sub(r"\{(\w+):(\w+)\}", fill, self.path)

    @property
    def id_params(self) -> list[str]:
        return re.findall(r"\{(\w+):int\}", self.path)


def routes_of(app: Litestar) -> list[Route]:
    out: list[Route] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            path_params = set(re.findall(r"\{(\w+):", route.path))
            query = frozenset(set(handler.parsed_fn_signature.parameters) - path_params - NOT_INPUT)
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                out.append(Route(method, route.path, query))
    return out


def who(route: Route) -> str:
    if route.path.startswith("/plus") and not route.path.startswith("/plus/log"):
        return "staff"
    if route.path.startswith("/account") and not route.path.startswith("/account/log"):
        return "client"
    return "anyone"


class Browsers:
    """One signed-in browser per kind of user with its CSRF token, a live link, and values
    that pass validation (James's vehicle, card, invoice...), so that one hostile field among
    valid ones reaches the code that parses it."""

    def __init__(self, app: Litestar, clients: dict[str, AsyncTestClient[Any]]) -> None:
        self.app = app
        self.clients = clients
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.valid: dict[str, str] = {}
        self.link = ""

    async def setup(self) -> None:
        await sign_in_staff(self.clients["staff"], "supervisor@demo.test", "demo-supervisor-pass")
        await sign_in_client(self.clients["client"], "100002")
        async with self.app.state.sessionmaker() as s:
            james = (
                await s.execute(select(Client).where(Client.account_number == "100002"))
            ).scalar_one()
            vehicle = (
                (await s.execute(select(Vehicle.id).where(Vehicle.client_id == james.id)))
                .scalars()
                .first()
            )
            card = (
                (await s.execute(select(CardOnFile.id).where(CardOnFile.client_id == james.id)))
                .scalars()
                .first()
            )
            invoice = (
                (await s.execute(select(Invoice.id).where(Invoice.client_id == james.id)))
                .scalars()
                .first()
            )
            payment = (
                (await s.execute(select(Payment.id).where(Payment.client_id == james.id)))
                .scalars()
                .first()
            )
        self.ids = {
            "client_id": str(james.id), "vehicle_id": str(vehicle), "card_id": str(card),
            "invoice_id": str(invoice), "payment_id": str(payment), "link_id": "1",
        }  # fmt: skip
        self.valid = {
            "vehicle_id": str(vehicle), "quoted_vehicle_id": str(vehicle), "days": "30",
            "card": str(card), "card_id": str(card), "move_autopay_to": str(card),
            "terms": "accepted", "amount": "1.00", "due_date": "2026-12-31",
            "description": "Device recalibration fee", "reason": "Charged twice",
            "phone": "(512) 555-0102", "answer": "fail", "make_default": "yes", "q": "Carter",
            "back": "/account/payment", "next": "/plus", "account_number": "100009",
        }  # fmt: skip
        self.tokens = {
            "staff": await csrf_for(self.clients["staff"], f"/plus/clients/{james.id}"),
            "client": await csrf_for(self.clients["client"], "/account/payment"),
            "anyone": await csrf_for(self.clients["anyone"], "/account/login"),
        }
        # Maria's: the staff browser works on James's account, so it never cancels this one.
        self.link = await make_link(self.app, account="100001", vehicle="Civic")

    def plausible(self, name: str) -> list[str]:
        return [self.valid.get(name, ""), "", "30", "14", "new", "yes", "accepted"]

    async def send(
        self, route: Route, fields: dict[str, str], ids: dict[str, str], hx: bool
    ) -> int:
        kind = who(route)
        browser = self.clients[kind]
        url = route.url({**self.ids, **ids})
        if route.path.startswith("/pay/"):
            url = url.replace("/pay/x", f"/pay/{self.link}")
        headers = {"HX-Request": "true"} if hx else {}
        if route.method == "GET":
            params = {k: v for k, v in fields.items() if k in route.query}
            r = await browser.get(url, params=params, headers=headers, follow_redirects=False)
        else:
            data = {"_csrf_token": self.tokens[kind], **fields}
            r = await browser.request(
                route.method, url, data=data, headers=headers, follow_redirects=False
            )
        return r.status_code


@pytest.fixture
async def browsers(app: Litestar) -> AsyncIterator[Browsers]:
    async with (
        AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as staff,
        AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as client,
        AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as anyone,
    ):
        b = Browsers(app, {"staff": staff, "client": client, "anyone": anyone})
        await b.setup()
        yield b


# -- the parsers themselves ------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_strict_parsers_take_only_plain_ascii_numbers(text: str) -> None:
    plain = re.fullmatch(r"[ \t]*([0-9]{1,18})[ \t]*", text)
    assert parse_whole(text) == (int(plain.group(1)) if plain else None)
    value = parse_id(text)
    assert value is None or (plain is not None and 0 < value <= 2**31 - 1)
    try:
        days = parse_days(text)
    except Exception as exc:  # noqa: BLE001 - which exception is the point
        assert type(exc).__name__ == "InvalidDays"
    else:
        assert plain is not None and days in (14, 30)
    try:
        parse_amount(text)
    except Exception as exc:  # noqa: BLE001 - which exception is the point
        assert type(exc).__name__ == "InvalidAmount"


@given(hostile_text)
def test_parsers_never_raise_anything_but_their_own_error(text: str) -> None:
    value = parse_whole(text)
    assert value is None or (text.strip(" \t").isascii() and 0 <= value < 10**18)
    assert parse_id(text) is None or value is not None
    for parse, error in ((parse_days, "InvalidDays"), (parse_amount, "InvalidAmount")):
        try:
            parse(text)
        except Exception as exc:  # noqa: BLE001 - which exception is the point
            assert type(exc).__name__ == error, (text, exc)


# -- every route, every field ----------------------------------------------------------------


def test_the_sweep_sees_the_routes_and_fields_that_matter(app: Litestar) -> None:
    routes = {(r.method, r.path) for r in routes_of(app)}
    assert ("POST", "/account/payment") in routes
    assert ("POST", "/plus/clients/{client_id:int}/history/payments") in routes
    assert ("GET", "/plus/clients/{client_id:int}/history/payments/{payment_id:int}/refund") in (
        routes
    )
    assert {"vehicle_id", "days", "card", "card_id", "amount", "payment_method"} <= form_fields()


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("value", SWEEP)
async def test_hostile_numbers_in_every_field_of_every_route_are_never_a_server_error(
    browsers: Browsers, value: str, db_url: str
) -> None:
    failures = []
    fields = form_fields()
    for route in routes_of(browsers.app):
        names = fields | route.query
        # The value in every field and query parameter at once (htmx for forms, whose error
        # answers are fragments); in each number field alone among valid ones; in every id
        # of the path.
        variants = [(dict.fromkeys(names, value), {}, route.method != "GET")]
        if route.method != "GET" and value in ONE_FIELD_AT_A_TIME:
            variants += [
                ({**browsers.valid, name: value}, {}, False)
                for name in sorted(NUMBER_FIELDS & names)
            ]
        if route.id_params:
            variants.append((browsers.valid, dict.fromkeys(route.id_params, value), False))
        for data, ids, hx in variants:
            status = await browsers.send(route, data, ids, hx)
            if status >= 500 and (route.method, route.path, status) not in KNOWN_5XX:
                failures.append((route.method, route.url(ids), sorted(data.items())[:3], status))
    assert not failures, failures


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
@given(data=st.data())
async def test_no_hostile_input_anywhere_gives_a_server_error(
    browsers: Browsers, data: st.DataObject, db_url: str
) -> None:
    """The property: whatever text arrives in any form field, query parameter or id in the
    path of any route, among valid values or other hostile ones (NUL and the other control
    characters among them), the answer is not a 5xx, on SQLite and on PostgreSQL (which
    refuses NUL in text)."""
    route = data.draw(st.sampled_from(routes_of(browsers.app)), label="route")
    fields = {
        name: data.draw(st.sampled_from(browsers.plausible(name)) | hostile_text, label=name)
        for name in sorted(form_fields() | route.query)
    }
    ids = {
        name: data.draw(st.just(browsers.ids.get(name, "1")) | hostile_text, label=name)
        for name in route.id_params
    }
    hx = data.draw(st.booleans(), label="htmx")
    status = await browsers.send(route, fields, ids, hx)
    assert status < 500 or (route.method, route.path, status) in KNOWN_5XX, (route, status)


async def test_unicode_digits_in_a_path_id_are_not_found(browsers: Browsers) -> None:
    cid = browsers.ids["client_id"]
    staff = browsers.clients["staff"]
    assert (await staff.get(f"/plus/clients/{cid}")).status_code == 200
    for written in (
        "²",
        "٣",
        f"+{cid}",
        f" {cid}",
        f"0{cid}",
        f"{cid[:1]}_{cid[1:]}" if len(cid) > 1 else "1_",
    ):
        r = await staff.get(f"/plus/clients/{quote(written, safe='')}")
        assert r.status_code == 404, (written, r.status_code)
        assert r.headers["x-frame-options"] == "DENY"


# -- the hand-written cases this file started with -------------------------------------------


async def james_id(session: Any) -> int:
    return int(
        (
            await session.execute(select(Client.id).where(Client.account_number == "100002"))
        ).scalar_one()
    )


@pytest.mark.parametrize("value", GARBAGE)
async def test_staff_forms_never_fail_with_a_server_error(
    client: AsyncTestClient[Any], session: Any, value: str
) -> None:
    await sign_in_staff(client, "supervisor@demo.test", "demo-supervisor-pass")
    cid = await james_id(session)
    token = await csrf_for(client, f"/plus/clients/{cid}")
    fields = {
        "vehicle_id": value, "days": value, "phone": value, "reviewed": value,
        "description": value, "amount": value, "due_date": value, "card_id": value,
        "request_key": value, "quoted_vehicle_id": value,
    }  # fmt: skip
    for hx in ({}, {"HX-Request": "true"}):
        for url in (
            f"/plus/clients/{cid}/links",
            f"/plus/clients/{cid}/history/invoices",
            f"/plus/clients/{cid}/history/take-payment/review",
            f"/plus/clients/{cid}/history/payments",
        ):
            r = await client.post(url, data={"_csrf_token": token, **fields}, headers=hx)
            assert r.status_code < 500, (url, value, r.status_code)
        for url in (
            f"/plus/clients/{cid}/send-link",
            f"/plus/clients/{cid}/history/take-payment",
            "/plus",
        ):
            r = await client.get(url, params={**fields, "q": value}, headers=hx)
            assert r.status_code < 500, (url, value, r.status_code)


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("number", ["0", "99999999999999999999", "2147483648"])
async def test_ids_in_paths_too_large_for_any_record_are_404(
    client: AsyncTestClient[Any], number: str, db_url: str
) -> None:
    await sign_in_staff(client)
    for url in (f"/plus/clients/{number}", f"/plus/clients/{number}/history",
                f"/plus/clients/{number}/links"):  # fmt: skip
        r = await client.get(url)
        assert r.status_code == 404, (url, r.status_code)


@pytest.mark.parametrize("value", GARBAGE)
async def test_client_forms_never_fail_with_a_server_error(
    client: AsyncTestClient[Any], value: str
) -> None:
    await sign_in_client(client, "100002")
    token = await csrf_for(client, "/account/payment")
    fields = {
        "vehicle_id": value, "days": value, "card": value, "payment_method": value,
        "reviewed": value, "save_card": value, "make_default": value, "move_autopay_to": value,
        "back": value,
    }  # fmt: skip
    for url in (
        "/account/payment",
        "/account/payment/methods",
        "/account/payment/autopay",
        "/account/payment/methods/1/default",
        "/account/payment/methods/1/remove",
        "/account/payment/autopay/1/cancel",
    ):
        r = await client.post(url, data={"_csrf_token": token, **fields})
        assert r.status_code < 500, (url, value, r.status_code)
    for url in ("/account/payment", "/account/payment/summary", "/account"):
        r = await client.get(url, params=fields, headers={"HX-Request": "true"})
        assert r.status_code < 500, (url, value, r.status_code)
