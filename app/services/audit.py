"""Audit events: who did what, when, to which client. Added to the caller's transaction.

One function per audited action, named for it: every action string the trail holds is written
here and nowhere else (tests/unit/test_audit_events.py), so `grep 'card.removed'` finds the one
place that writes it, and each action's fields are typed. The stored rows (action, actor, client,
and the detail JSON's keys) are read by Account History, reports, /metrics and tests: change them
only together with their readers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession as Session

from app.store.metrics_queries import AUTOPAY_RUN
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


@dataclass(frozen=True)
class _Actor:
    type: str  # staff | client | payer | system
    id: int | None = None


SYSTEM = _Actor("system")
PAYER = _Actor("payer")  # someone holding a link or texting from a number: not signed in


def _staff(user: StaffUser) -> _Actor:
    return _Actor("staff", user.id)


def _client(client_id: int | None) -> _Actor:
    return _Actor("client", client_id)


def _write(
    s: Session, at: datetime, by: _Actor, client_id: int | None, action: str, **detail: Any
) -> AuditEvent:
    """The row itself, added to the caller's transaction."""
    detail_json = json.dumps(detail, sort_keys=True, default=str)
    event = AuditEvent(
        at=at,
        actor_type=by.type,
        actor_id=by.id,
        client_id=client_id,
        action=action,
        detail=detail_json,
    )
    s.add(event)
    return event


def _own(s: Session, at: datetime, client_id: int | None, action: str, **detail: Any) -> AuditEvent:
    """The client, signed in to My Account, acting on their own account."""
    return _write(s, at, _client(client_id), client_id, action, **detail)


# --- sign-in and the client's settings -----------------------------------------------------


def staff_sign_in(s: Session, *, at: datetime, staff: StaffUser) -> AuditEvent:
    return _write(s, at, _staff(staff), None, "staff.sign_in")


def client_sign_in(s: Session, *, at: datetime, client: Client) -> AuditEvent:
    return _own(s, at, client.id, "client.sign_in")


def client_language_set(
    s: Session, *, at: datetime, by: tuple[str, int | None], client_id: int, before: str, after: str
) -> AuditEvent:
    """`by`: (actor type, actor id): the client on My Account, or staff in PLUS."""
    actor = _Actor(*by)
    return _write(s, at, actor, client_id, "client.language_set", before=before, after=after)


def sms_opted_out(s: Session, *, at: datetime, client_id: int | None, phone: str) -> AuditEvent:
    """STOP from the client's number (`phone`: masked)."""
    return _write(s, at, PAYER, client_id, "sms.opted_out", phone=phone)


def sms_opted_in(s: Session, *, at: datetime, client_id: int | None, phone: str) -> AuditEvent:
    """START from the client's number (`phone`: masked)."""
    return _write(s, at, PAYER, client_id, "sms.opted_in", phone=phone)


# --- cards on file -----------------------------------------------------------------------


def card_added(s: Session, *, at: datetime, card: CardOnFile) -> AuditEvent:
    detail = _card(card) | {"brand": card.brand, "default": card.is_default}
    return _own(s, at, card.client_id, "card.added", **detail)


def card_saved_again(s: Session, *, at: datetime, card: CardOnFile) -> AuditEvent:
    """The client entered a card already on file: its reference and expiry were refreshed."""
    return _own(s, at, card.client_id, "card.saved_again", **_card(card))


def card_default_set(s: Session, *, at: datetime, card: CardOnFile) -> AuditEvent:
    return _own(s, at, card.client_id, "card.default_set", **_card(card))


def card_removed(
    s: Session, *, at: datetime, card: CardOnFile, autopay_moved_to: int | None
) -> AuditEvent:
    """`autopay_moved_to`: the card the removed card's AutoPay went to (None: it had none)."""
    detail = _card(card) | {"autopay_moved_to": autopay_moved_to}
    return _own(s, at, card.client_id, "card.removed", **detail)


def card_discarded_after_decline(s: Session, *, at: datetime, card: CardOnFile) -> AuditEvent:
    """A card saved for a payment that was then declined is not left on file."""
    action = "card.discarded_after_decline"
    return _write(s, at, SYSTEM, card.client_id, action, **_card(card))


def _card(card: CardOnFile) -> dict[str, Any]:
    return {"card_id": card.id, "last4": card.last4}


# --- invoices ----------------------------------------------------------------------------


def invoice_added(s: Session, *, at: datetime, staff: StaffUser, invoice: Invoice) -> AuditEvent:
    due_date = invoice.due_date.isoformat()
    detail = {"invoice": invoice.number, "amount_cents": invoice.amount_cents, "due_date": due_date}
    return _write(s, at, _staff(staff), invoice.client_id, "invoice.added", **detail)


def invoice_voided(s: Session, *, at: datetime, staff: StaffUser, invoice: Invoice) -> AuditEvent:
    detail = {"invoice": invoice.number, "amount_cents": invoice.total_cents}
    return _write(s, at, _staff(staff), invoice.client_id, "invoice.voided", **detail)


# --- Secure Payment Links ------------------------------------------------------------------


def link_sent(
    s: Session, *, at: datetime, staff: StaffUser, link: PaymentLink, client_phone: str | None
) -> AuditEvent:
    """Staff sent the link (`client_phone`: the client's own number, to tell whether it went
    there or to another number)."""
    return _write(s, at, _staff(staff), link.client_id, "link.sent", **_link(link, client_phone))


def link_renewed(
    s: Session, *, at: datetime, link: PaymentLink, client_phone: str | None, renewed_from: int
) -> AuditEvent:
    """The payer asked for a new link from an expired one (`renewed_from`, its id)."""
    detail = _link(link, client_phone) | {"renewed_from_link_id": renewed_from}
    return _write(s, at, PAYER, link.client_id, "link.renewed", **detail)


def link_requested_by_text(
    s: Session, *, at: datetime, link: PaymentLink, client_phone: str | None
) -> AuditEvent:
    """The payer replied PAY to a reminder and got this link."""
    detail = _link(link, client_phone)
    return _write(s, at, PAYER, link.client_id, "link.requested_by_text", **detail)


def _link(link: PaymentLink, client_phone: str | None) -> dict[str, Any]:
    return {
        "link_id": link.id,
        "to": link.phone_e164,
        "to_client_phone": link.phone_e164 == client_phone,
        "total_cents": link.total_cents,
        "days": link.days,
        "vehicle_id": link.vehicle_id,
    }


def link_text_request_refused(
    s: Session, *, at: datetime, client_id: int, reason: str, phone: str
) -> AuditEvent:
    """A PAY from a client's number got a polite answer and no link (`reason`: why)."""
    action = "link.text_request_refused"
    return _write(s, at, PAYER, client_id, action, reason=reason, phone=phone)


def link_opened(s: Session, *, at: datetime, link: PaymentLink) -> AuditEvent:
    return _write(s, at, PAYER, link.client_id, "link.opened", link_id=link.id)


def link_cancelled(
    s: Session, *, at: datetime, staff: StaffUser, client_id: int, link_id: int
) -> AuditEvent:
    return _write(s, at, _staff(staff), client_id, "link.cancelled", link_id=link_id)


# --- payments ----------------------------------------------------------------------------


def payment_staff_charge(
    s: Session,
    *,
    at: datetime,
    staff: StaffUser,
    card: CardOnFile,
    amount_cents: int,
    vehicle_id: int,
    days: int,
    request_key: str,
) -> AuditEvent:
    """Staff charged a card on file (written before the charge is tried)."""
    detail = {"vehicle_id": vehicle_id, "days": days, "request_key": request_key}
    paid = {"amount_cents": amount_cents, "card": f"{card.brand} {card.last4}"}
    return _write(s, at, _staff(staff), card.client_id, "payment.staff_charge", **detail, **paid)


def payment_succeeded(
    s: Session, *, at: datetime, payment: Payment, invoice: str, settled: list[str]
) -> AuditEvent:
    """`invoice`: the receipt's number; `settled`: the numbers of the invoices it paid."""
    detail = _pay(payment) | {"amount_cents": payment.amount_cents, "invoice": invoice}
    return _write(s, at, SYSTEM, payment.client_id, "payment.succeeded", **detail, settled=settled)


def payment_failed(s: Session, *, at: datetime, payment: Payment, code: str) -> AuditEvent:
    detail = _pay(payment) | {"code": code}
    return _write(s, at, SYSTEM, payment.client_id, "payment.failed", **detail)


def payment_amount_mismatch(
    s: Session, *, at: datetime, payment: Payment, expected_cents: int, charged_cents: int
) -> AuditEvent:
    """The processor charged another amount than the payment's: refunded in full."""
    amounts = {"expected_cents": expected_cents, "charged_cents": charged_cents}
    action = "payment.amount_mismatch"
    return _write(s, at, SYSTEM, payment.client_id, action, **_pay_id(payment), **amounts)


def _dispute(d: Dispute) -> dict[str, Any]:
    """What the trail keeps of a dispute: the processor's id for it, where it stands, how much,
    why."""
    return {"dispute": d.processor_ref, "status": d.status, "amount_cents": d.amount_cents,
            "reason": d.reason}  # fmt: skip


def payment_disputed(s: Session, *, at: datetime, payment: Payment, dispute: Dispute) -> AuditEvent:
    """The payer disputed the payment with their bank."""
    detail = _pay_id(payment) | _dispute(dispute)
    return _write(s, at, SYSTEM, payment.client_id, "payment.disputed", **detail)


def payment_dispute_updated(
    s: Session, *, at: datetime, payment: Payment, dispute: Dispute
) -> AuditEvent:
    """A dispute already on file moved on (`status`: where it is now)."""
    detail = _pay_id(payment) | _dispute(dispute)
    return _write(s, at, SYSTEM, payment.client_id, "payment.dispute_updated", **detail)


def _pay_id(payment: Payment) -> dict[str, Any]:
    return {"payment_id": payment.id}


def _pay(payment: Payment) -> dict[str, Any]:
    return _pay_id(payment) | {"channel": payment.channel}


def payment_refund_requested(
    s: Session, *, at: datetime, staff: StaffUser, refund: Refund
) -> AuditEvent:
    """Staff asked for a refund (`refund`: the new row, its reason theirs)."""
    detail = _refund(refund) | {"reason": refund.reason}
    return _write(s, at, _staff(staff), refund.client_id, "payment.refund_requested", **detail)


def payment_refund_requested_by_system(s: Session, *, at: datetime, refund: Refund) -> AuditEvent:
    """A success that could not be applied is refunded in full (`refund.kind` says why)."""
    detail = _refund(refund) | {"kind": refund.kind}
    return _write(s, at, SYSTEM, refund.client_id, "payment.refund_requested", **detail)


def payment_refund_failed(s: Session, *, at: datetime, refund: Refund) -> AuditEvent:
    return _write(s, at, SYSTEM, refund.client_id, "payment.refund_failed", **_refund(refund))


def payment_refunded(
    s: Session, *, at: datetime, refund: Refund, reopened: list[str]
) -> AuditEvent:
    """`reopened`: the numbers of the invoices the refund gave money back to."""
    detail = _refund(refund) | {"kind": refund.kind, "reason": refund.reason, "reopened": reopened}
    return _write(s, at, SYSTEM, refund.client_id, "payment.refunded", **detail)


def _refund(refund: Refund) -> dict[str, Any]:
    return {"payment_id": refund.payment_id, "amount_cents": refund.amount_cents}


# --- AutoPay -----------------------------------------------------------------------------


def autopay_enrolled(
    s: Session, *, at: datetime, vehicle: Vehicle, card: CardOnFile, days: int
) -> AuditEvent:
    """The client turned AutoPay on for `vehicle`, charged to `card` every `days`."""
    detail = _vehicle(vehicle) | _card(card) | {"days": days}
    return _own(s, at, vehicle.client_id, "autopay.enrolled", **detail)


def autopay_changed(
    s: Session, *, at: datetime, vehicle: Vehicle, card: CardOnFile, days: int
) -> AuditEvent:
    """The client changed the card or the days of AutoPay already on for `vehicle`."""
    detail = _vehicle(vehicle) | _card(card) | {"days": days}
    return _own(s, at, vehicle.client_id, "autopay.changed", **detail)


def autopay_cancelled(s: Session, *, at: datetime, vehicle: Vehicle) -> AuditEvent:
    return _own(s, at, vehicle.client_id, "autopay.cancelled", **_vehicle(vehicle))


def _vehicle(vehicle: Vehicle) -> dict[str, Any]:
    return {"vehicle_id": vehicle.id, "vehicle": vehicle.label}


def autopay_failed(
    s: Session,
    *,
    at: datetime,
    client_id: int,
    vehicle_id: int,
    amount_cents: int,
    reason: str,
    texted: bool,
) -> AuditEvent:
    """An AutoPay charge did not go through (`texted`: the client was told by text)."""
    detail: dict[str, Any] = {"vehicle_id": vehicle_id, "amount_cents": amount_cents}
    return _write(
        s, at, SYSTEM, client_id, "autopay.failed", **detail, reason=reason, texted=texted
    )


def autopay_run(
    s: Session, *, at: datetime, due: int, charged: int, failed: int, errors: int
) -> AuditEvent:
    """A finished AutoPay run with its counts (no client): /metrics reads the last one."""
    detail = {"due": due, "charged": charged, "failed": failed, "errors": errors}
    return _write(s, at, SYSTEM, None, AUTOPAY_RUN, **detail)
