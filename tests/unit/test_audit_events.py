"""The audit trail's rows: one function an action (app/services/audit.py), each writing the
action, actor, client and detail JSON the trail held before they existed (Account History,
reports, /metrics and tests read them); and no action is written anywhere else in app/."""

from __future__ import annotations

import ast
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.services import audit
from app.store.models import (
    AuditEvent,
    CardOnFile,
    Client,
    Dispute,
    Invoice,
    Payment,
    PaymentLink,
    Refund,
    StaffUser,
    Vehicle,
)

APP = Path(__file__).resolve().parents[2] / "app"
AUDIT_MODULE = APP / "services" / "audit.py"
# Readers that name an action to find its rows (the writer imports the same constant).
READERS = {APP / "store" / "metrics_queries.py": {"autopay.run"}}

AT = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
STAFF = StaffUser(id=5, email="pat@example.com", name="Pat", role="admin")
CLIENT = Client(id=3, account_number="100003", first_name="Ana", last_name="Diaz")
CARD = CardOnFile(id=7, client_id=3, brand="visa", last4="4242", is_default=True)
INVOICE = Invoice(
    id=11,
    number="INV-0011",
    client_id=3,
    amount_cents=2500,
    tax_cents=200,
    due_date=date(2026, 12, 1),
)
LINK = PaymentLink(
    id=21, client_id=3, vehicle_id=9, days=30, total_cents=4200, phone_e164="+15125550100"
)
PAYMENT = Payment(id=31, client_id=3, channel="link", amount_cents=4200)
REFUND = Refund(
    id=41, payment_id=31, client_id=3, amount_cents=1000, kind="staff", reason="goodwill"
)


DISPUTE = Dispute(
    processor_ref="dp_1", status="needs_response", amount_cents=4200, reason="fraudulent"
)
LOST = Dispute(processor_ref="dp_1", status="lost", amount_cents=4200, reason="fraudulent")
VEHICLE = Vehicle(id=9, client_id=3, year=2024, make="Ford", model="F-150")


@dataclass(frozen=True)
class Row:
    """What one event function writes: the row's columns as before, and its detail JSON."""

    event: Callable[..., AuditEvent]
    given: dict[str, Any]
    actor: tuple[str, int | None]
    client_id: int | None
    action: str
    detail: dict[str, Any]


ROWS = [
    Row(audit.staff_sign_in, {"staff": STAFF}, ("staff", 5), None, "staff.sign_in", {}),
    Row(audit.client_sign_in, {"client": CLIENT}, ("client", 3), 3, "client.sign_in", {}),
    Row(
        audit.client_language_set,
        {"by": ("staff", 5), "client_id": 3, "before": "en", "after": "es"},
        ("staff", 5),
        3,
        "client.language_set",
        {"before": "en", "after": "es"},
    ),
    Row(
        audit.sms_opted_out,
        {"client_id": 3, "phone": "***0100"},
        ("payer", None),
        3,
        "sms.opted_out",
        {"phone": "***0100"},
    ),
    Row(
        audit.sms_opted_in,
        {"client_id": 3, "phone": "***0100"},
        ("payer", None),
        3,
        "sms.opted_in",
        {"phone": "***0100"},
    ),
    Row(
        audit.card_added,
        {"card": CARD},
        ("client", 3),
        3,
        "card.added",
        {"card_id": 7, "brand": "visa", "last4": "4242", "default": True},
    ),
    Row(
        audit.card_saved_again,
        {"card": CARD},
        ("client", 3),
        3,
        "card.saved_again",
        {"card_id": 7, "last4": "4242"},
    ),
    Row(
        audit.card_default_set,
        {"card": CARD},
        ("client", 3),
        3,
        "card.default_set",
        {"card_id": 7, "last4": "4242"},
    ),
    Row(
        audit.card_removed,
        {"card": CARD, "autopay_moved_to": None},
        ("client", 3),
        3,
        "card.removed",
        {"card_id": 7, "last4": "4242", "autopay_moved_to": None},
    ),
    Row(
        audit.card_discarded_after_decline,
        {"card": CARD},
        ("system", None),
        3,
        "card.discarded_after_decline",
        {"card_id": 7, "last4": "4242"},
    ),
    Row(
        audit.invoice_added,
        {"staff": STAFF, "invoice": INVOICE},
        ("staff", 5),
        3,
        "invoice.added",
        {"invoice": "INV-0011", "amount_cents": 2500, "due_date": "2026-12-01"},
    ),
    Row(
        audit.invoice_voided,
        {"staff": STAFF, "invoice": INVOICE},
        ("staff", 5),
        3,
        "invoice.voided",
        {"invoice": "INV-0011", "amount_cents": 2700},
    ),
    Row(
        audit.link_sent,
        {"staff": STAFF, "link": LINK, "client_phone": "+15125550100"},
        ("staff", 5),
        3,
        "link.sent",
        {
            "link_id": 21,
            "to": "+15125550100",
            "to_client_phone": True,
            "total_cents": 4200,
            "days": 30,
            "vehicle_id": 9,
        },
    ),
    Row(
        audit.link_renewed,
        {"link": LINK, "client_phone": "+15125550199", "renewed_from": 20},
        ("payer", None),
        3,
        "link.renewed",
        {
            "link_id": 21,
            "to": "+15125550100",
            "to_client_phone": False,
            "total_cents": 4200,
            "days": 30,
            "vehicle_id": 9,
            "renewed_from_link_id": 20,
        },
    ),
    Row(
        audit.link_requested_by_text,
        {"link": LINK, "client_phone": None},
        ("payer", None),
        3,
        "link.requested_by_text",
        {
            "link_id": 21,
            "to": "+15125550100",
            "to_client_phone": False,
            "total_cents": 4200,
            "days": 30,
            "vehicle_id": 9,
        },
    ),
    Row(
        audit.link_text_request_refused,
        {"client_id": 3, "reason": "paid", "phone": "***0100"},
        ("payer", None),
        3,
        "link.text_request_refused",
        {"reason": "paid", "phone": "***0100"},
    ),
    Row(audit.link_opened, {"link": LINK}, ("payer", None), 3, "link.opened", {"link_id": 21}),
    Row(
        audit.link_cancelled,
        {"staff": STAFF, "client_id": 3, "link_id": 21},
        ("staff", 5),
        3,
        "link.cancelled",
        {"link_id": 21},
    ),
    Row(
        audit.payment_staff_charge,
        {
            "staff": STAFF,
            "card": CARD,
            "amount_cents": 4200,
            "vehicle_id": 9,
            "days": 30,
            "request_key": "abc123",
        },
        ("staff", 5),
        3,
        "payment.staff_charge",
        {
            "amount_cents": 4200,
            "card": "visa 4242",
            "vehicle_id": 9,
            "days": 30,
            "request_key": "abc123",
        },
    ),
    Row(
        audit.payment_succeeded,
        {"payment": PAYMENT, "invoice": "INV-0012", "settled": ["INV-0011"]},
        ("system", None),
        3,
        "payment.succeeded",
        {
            "payment_id": 31,
            "channel": "link",
            "amount_cents": 4200,
            "invoice": "INV-0012",
            "settled": ["INV-0011"],
        },
    ),
    Row(
        audit.payment_failed,
        {"payment": PAYMENT, "code": "card_declined"},
        ("system", None),
        3,
        "payment.failed",
        {"payment_id": 31, "channel": "link", "code": "card_declined"},
    ),
    Row(
        audit.payment_amount_mismatch,
        {"payment": PAYMENT, "expected_cents": 4200, "charged_cents": 4201},
        ("system", None),
        3,
        "payment.amount_mismatch",
        {"payment_id": 31, "expected_cents": 4200, "charged_cents": 4201},
    ),
    Row(
        audit.payment_disputed,
        {"payment": PAYMENT, "dispute": DISPUTE},
        ("system", None),
        3,
        "payment.disputed",
        {
            "payment_id": 31,
            "dispute": "dp_1",
            "status": "needs_response",
            "amount_cents": 4200,
            "reason": "fraudulent",
        },
    ),
    Row(
        audit.payment_dispute_updated,
        {"payment": PAYMENT, "dispute": LOST},
        ("system", None),
        3,
        "payment.dispute_updated",
        {
            "payment_id": 31,
            "dispute": "dp_1",
            "status": "lost",
            "amount_cents": 4200,
            "reason": "fraudulent",
        },
    ),
    Row(
        audit.payment_refund_requested,
        {"staff": STAFF, "refund": REFUND},
        ("staff", 5),
        3,
        "payment.refund_requested",
        {"payment_id": 31, "amount_cents": 1000, "reason": "goodwill"},
    ),
    Row(
        audit.payment_refund_requested_by_system,
        {"refund": REFUND},
        ("system", None),
        3,
        "payment.refund_requested",
        {"payment_id": 31, "amount_cents": 1000, "kind": "staff"},
    ),
    Row(
        audit.payment_refund_failed,
        {"refund": REFUND},
        ("system", None),
        3,
        "payment.refund_failed",
        {"payment_id": 31, "amount_cents": 1000},
    ),
    Row(
        audit.payment_refunded,
        {"refund": REFUND, "reopened": ["INV-0011"]},
        ("system", None),
        3,
        "payment.refunded",
        {
            "payment_id": 31,
            "amount_cents": 1000,
            "kind": "staff",
            "reason": "goodwill",
            "reopened": ["INV-0011"],
        },
    ),
    Row(
        audit.autopay_enrolled,
        {"vehicle": VEHICLE, "card": CARD, "days": 30},
        ("client", 3),
        3,
        "autopay.enrolled",
        {"vehicle_id": 9, "vehicle": "2024 Ford F-150", "card_id": 7, "last4": "4242", "days": 30},
    ),
    Row(
        audit.autopay_changed,
        {"vehicle": VEHICLE, "card": CARD, "days": 60},
        ("client", 3),
        3,
        "autopay.changed",
        {"vehicle_id": 9, "vehicle": "2024 Ford F-150", "card_id": 7, "last4": "4242", "days": 60},
    ),
    Row(
        audit.autopay_cancelled,
        {"vehicle": VEHICLE},
        ("client", 3),
        3,
        "autopay.cancelled",
        {"vehicle_id": 9, "vehicle": "2024 Ford F-150"},
    ),
    Row(
        audit.autopay_failed,
        {
            "client_id": 3,
            "vehicle_id": 9,
            "amount_cents": 4200,
            "reason": "declined",
            "texted": True,
        },
        ("system", None),
        3,
        "autopay.failed",
        {"vehicle_id": 9, "amount_cents": 4200, "reason": "declined", "texted": True},
    ),
    Row(
        audit.autopay_run,
        {"due": 4, "charged": 2, "failed": 1, "errors": 1},
        ("system", None),
        None,
        "autopay.run",
        {"due": 4, "charged": 2, "failed": 1, "errors": 1},
    ),
]


class Added:
    """Stands for the session: the event functions only add a row to it."""

    def __init__(self) -> None:
        self.rows: list[object] = []

    def add(self, row: object) -> None:
        self.rows.append(row)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.event.__name__)
def test_each_event_writes_its_action_actor_and_detail(row: Row) -> None:
    session = Added()
    written = row.event(cast(AsyncSession, session), at=AT, **row.given)
    assert session.rows == [written]
    assert (written.at, written.action) == (AT, row.action)
    assert (written.actor_type, written.actor_id) == row.actor
    assert written.client_id == row.client_id
    assert json.loads(written.detail) == row.detail
    assert written.detail == json.dumps(row.detail, sort_keys=True)  # the same text, key order


def test_every_event_function_is_in_the_table() -> None:
    public = {
        name
        for name, f in inspect.getmembers(audit, inspect.isfunction)
        if f.__module__ == audit.__name__ and not name.startswith("_")
    }
    assert public == {row.event.__name__ for row in ROWS}


ACTIONS = {row.action for row in ROWS}


WRITERS = {"record", "AuditEvent"}


def _action_writes(tree: ast.AST) -> list[int]:
    """Lines of calls that name an audit action themselves: `record(..., action=...)` (the
    generic writer this module replaced) or `AuditEvent(..., action=...)`."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and any(k.arg == "action" for k in node.keywords)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr in WRITERS)
            or (isinstance(node.func, ast.Name) and node.func.id in WRITERS)
        )
    ]


def _action_strings(tree: ast.AST) -> set[str]:
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ACTIONS
    }


def test_actions_are_written_only_by_the_audit_module() -> None:
    found: dict[str, tuple[list[int], list[str]]] = {}
    for path in sorted(APP.rglob("*.py")):
        if path == AUDIT_MODULE:
            continue
        tree = ast.parse(path.read_text(), str(path))
        where = str(path.relative_to(APP.parent))
        lines = _action_writes(tree)
        strings = sorted(_action_strings(tree) - READERS.get(path, set()))
        if lines or strings:
            found[where] = (lines, strings)
    assert found == {}


def test_the_check_finds_an_action_written_elsewhere() -> None:
    tree = ast.parse(
        'audit.record(s, at=now, actor_type="system", actor_id=None, action="payment.failed")'
    )
    assert _action_writes(tree) == [1]
    assert _action_strings(tree) == {"payment.failed"}
    assert _action_writes(ast.parse('AuditEvent(at=now, action="card.added")')) == [1]
