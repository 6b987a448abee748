"""SQLModel tables for every entity of SPEC §2. Alembic owns the schema (store/alembic)."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which keeps no zone) and PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(nullable: bool = True, index: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(UTCDateTime(), nullable=nullable, index=index)


class Location(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    timezone: str = Field(max_length=64)
    tax_rate_bp: int
    price_14_cents: int
    price_30_cents: int
    payments_enabled: bool = False
    processor_account: str | None = Field(default=None, max_length=100)
    support_phone: str = Field(max_length=20)

    @property
    def accepts_payments(self) -> bool:
        return self.payments_enabled and bool(self.processor_account)

    def price_for(self, days: int) -> int:
        return {14: self.price_14_cents, 30: self.price_30_cents}[days]


class Client(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    account_number: str = Field(max_length=6, unique=True, index=True)
    first_name: str = Field(max_length=80)
    last_name: str = Field(max_length=80)
    search_name: str = Field(max_length=170, index=True)  # lower("first last")
    phone_e164: str = Field(max_length=20, index=True)
    phone_digits: str = Field(max_length=15, index=True)  # national digits, for search
    email: str = Field(max_length=200)
    location_id: int = Field(foreign_key="location.id", index=True)
    sms_opt_out: bool = False
    language: str = Field(default="en", max_length=5)  # en | es: texts and pages in it
    password_hash: str | None = Field(default=None, max_length=200)
    processor_customer: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    # One payment in flight per account: set under the account lock before the processor is
    # called, cleared only when that payment is resolved (succeeded, failed or refunded) — never
    # by a timer. Serialises every channel (link, staff, portal, AutoPay).
    payment_in_flight: int | None = Field(default=None)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def short_name(self) -> str:
        return f"{self.first_name} {self.last_name[:1]}."


class Vehicle(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_vehicle_paid_through", "paid_through"),)  # the reminder run
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    year: int
    make: str = Field(max_length=40)
    model: str = Field(max_length=40)
    plate: str = Field(max_length=12)
    device_serial: str = Field(max_length=20)
    billing_cycle_days: int = 30
    paid_through: date
    next_appointment: datetime | None = Field(default=None, sa_column=_ts())

    @property
    def label(self) -> str:
        return f"{self.year} {self.make} {self.model}"


class Invoice(SQLModel, table=True):
    __table_args__ = (
        sa.Index("ix_invoice_client_status_due", "client_id", "status", "due_date"),
        sa.Index("ix_invoice_status_due", "status", "due_date"),  # reports: past due
    )
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=20, unique=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    vehicle_id: int | None = Field(default=None, foreign_key="vehicle.id")
    kind: str = Field(default="charge", max_length=20)  # charge | monitoring
    # A charge of the catalog (domain/charges.py): its key, so a client's page says it in the
    # client's language; None for monitoring and for a charge staff typed (shown as typed).
    charge_type: str | None = Field(default=None, max_length=40)
    description: str = Field(max_length=200)  # English (the catalog's) or as staff typed it
    amount_cents: int
    tax_cents: int = 0
    due_date: date
    status: str = Field(default="open", max_length=10)  # open | paid | void
    period_start: date | None = None
    period_end: date | None = None
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    paid_at: datetime | None = Field(default=None, sa_column=_ts())
    voided_at: datetime | None = Field(default=None, sa_column=_ts())
    created_by_staff_id: int | None = Field(default=None, foreign_key="staffuser.id")

    @property
    def total_cents(self) -> int:
        return self.amount_cents + self.tax_cents


class Payment(SQLModel, table=True):
    __table_args__ = (
        sa.Index("ix_payment_status_created", "status", "created_at"),
        sa.Index(  # reports: every column they read (an index-only scan)
            "ix_payment_completed_report",
            *("completed_at", "status", "client_id", "amount_cents", "channel", "staff_id"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    vehicle_id: int | None = Field(default=None, foreign_key="vehicle.id")
    amount_cents: int
    channel: str = Field(max_length=24)  # link | staff_card_on_file | portal | autopay
    # pending | unknown | succeeded | failed | refunded | partially_refunded (domain/outcomes.py)
    status: str = Field(default="pending", max_length=20)
    idempotency_key: str = Field(max_length=80, unique=True)
    processor_ref: str | None = Field(default=None, max_length=100, index=True)
    card_brand: str | None = Field(default=None, max_length=20)
    card_last4: str | None = Field(default=None, max_length=4)
    card_wallet: str | None = Field(default=None, max_length=12)  # Apple Pay | Google Pay
    failure_code: str | None = Field(default=None, max_length=40)
    failure_message: str | None = Field(default=None, max_length=200)
    summary_json: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    link_id: int | None = Field(default=None, foreign_key="paymentlink.id", index=True)
    staff_id: int | None = Field(default=None, foreign_key="staffuser.id")
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id")
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    completed_at: datetime | None = Field(default=None, sa_column=_ts())
    refunded_cents: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Refund(SQLModel, table=True):
    """Money given back: by a supervisor (`staff`) or because a success no longer fit its
    snapshot (`conflict`). `pending` until the processor confirms; retried with its key."""

    __table_args__ = (sa.Index("ix_refund_completed_at", "completed_at"),)  # reports
    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payment.id", index=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    amount_cents: int
    kind: str = Field(max_length=12)  # staff | conflict | mismatch | dispute (a lost dispute)
    reason: str = Field(max_length=200)
    status: str = Field(default="pending", max_length=12, index=True)  # pending|succeeded|failed
    idempotency_key: str = Field(max_length=80, unique=True)
    processor_ref: str | None = Field(default=None, max_length=100)
    staff_id: int | None = Field(default=None, foreign_key="staffuser.id")
    failure_message: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    completed_at: datetime | None = Field(default=None, sa_column=_ts())


class Dispute(SQLModel, table=True):
    """A chargeback or inquiry on a payment, as the processor's events last described it
    (app/domain/disputes.py). A lost one gave its money back through a Refund of kind
    `dispute` (`refund_id`)."""

    __table_args__ = (
        sa.Index("ix_dispute_status_due", "status", "evidence_due_by"),  # needing a response
        sa.Index("ix_dispute_opened_at", "opened_at"),  # reports
    )
    id: int | None = Field(default=None, primary_key=True)
    processor_ref: str = Field(max_length=100, unique=True)  # e.g. Stripe's du_…
    payment_id: int = Field(foreign_key="payment.id", index=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    charge_ref: str | None = Field(default=None, max_length=100)
    amount_cents: int
    reason: str = Field(max_length=40)
    status: str = Field(max_length=24)  # Stripe's Dispute.status
    evidence_due_by: datetime | None = Field(default=None, sa_column=_ts())
    livemode: bool = False
    opened_at: datetime = Field(sa_column=_ts(nullable=False))  # the processor's `created`
    event_at: datetime = Field(sa_column=_ts(nullable=False))  # the last event taken, sent at
    closed_at: datetime | None = Field(default=None, sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts(nullable=False))
    refund_id: int | None = Field(default=None, foreign_key="refund.id")


class ProcessedEvent(SQLModel, table=True):
    """A processor webhook event already handled: replays are recognised by id."""

    event_id: str = Field(primary_key=True, max_length=100)
    kind: str = Field(max_length=60)
    at: datetime = Field(sa_column=_ts(nullable=False))


class PaymentAllocation(SQLModel, table=True):
    __table_args__ = (  # reports: what payments hold of past-due invoices, from the index
        sa.Index("ix_paymentallocation_invoice_amount", "invoice_id", "amount_cents"),
    )
    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payment.id", index=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    amount_cents: int


class CardOnFile(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    processor_ref: str = Field(max_length=100, index=True)
    brand: str = Field(max_length=20)
    last4: str = Field(max_length=4)
    exp_month: int
    exp_year: int
    # The processor's fingerprint of the card number: the same card saved twice is kept once.
    fingerprint: str | None = Field(default=None, max_length=64)
    is_default: bool = False
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    removed_at: datetime | None = Field(default=None, sa_column=_ts())


class PaymentLink(SQLModel, table=True):
    __table_args__ = (
        sa.Index("ix_paymentlink_client_created", "client_id", "created_at"),
        sa.Index("ix_paymentlink_sent_at", "sent_at"),  # reports
    )
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    client_id: int = Field(foreign_key="client.id")
    vehicle_id: int = Field(foreign_key="vehicle.id")
    days: int
    total_cents: int
    summary_json: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    phone_e164: str = Field(max_length=20, index=True)
    status: str = Field(default="queued", max_length=12)
    sent_by_staff_id: int | None = Field(default=None, foreign_key="staffuser.id")
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_ts())
    delivered_at: datetime | None = Field(default=None, sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts(nullable=False))
    opened_at: datetime | None = Field(default=None, sa_column=_ts())
    paid_at: datetime | None = Field(default=None, sa_column=_ts())
    cancelled_at: datetime | None = Field(default=None, sa_column=_ts())
    failed_at: datetime | None = Field(default=None, sa_column=_ts())
    decline_count: int = 0
    # The payment currently being attempted; set by a conditional update (the claim).
    claim_payment_id: int | None = Field(default=None)
    payment_id: int | None = Field(default=None)
    # The link the payer asked for from this one after it expired ("Text me a new link").
    renewed_by_link_id: int | None = Field(default=None)
    # Who asked for it: staff | renewal ("Text me a new link") | reply (PAY to a reminder)
    origin: str = Field(
        default="staff", max_length=12, sa_column_kwargs={"server_default": "staff"}
    )


class Reminder(SQLModel, table=True):
    """A "your monitoring lapses soon" text: at most one per vehicle and paid-through date,
    whichever instance runs the job (the unique constraint decides)."""

    __table_args__ = (
        sa.UniqueConstraint("vehicle_id", "period_end", name="uq_reminder_vehicle_period"),
    )
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    vehicle_id: int = Field(foreign_key="vehicle.id")
    period_end: date
    sms_id: int | None = Field(default=None, foreign_key="smsmessage.id")
    created_at: datetime = Field(sa_column=_ts(nullable=False))


class SmsMessage(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_smsmessage_status_next", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    to_e164: str = Field(max_length=20, index=True)
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # a link token as TOKEN_MARK
    sealed_secret: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    kind: str = Field(default="link", max_length=20)  # link | receipt | autopay_failed
    # queued|sending|unknown|sent|delivered|failed (app/services/sms_worker.py: the life of a text)
    status: str = Field(default="queued", max_length=12)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=_ts())
    last_error: str | None = Field(default=None, max_length=200)
    provider_ref: str | None = Field(default=None, max_length=64)
    client_id: int | None = Field(default=None, foreign_key="client.id", index=True)
    link_id: int | None = Field(default=None, foreign_key="paymentlink.id", index=True)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    # when last handed to the provider: kept while the outcome is unknown (the grace period
    # counts from it), cleared when the provider certainly did not take the text
    sent_at: datetime | None = Field(default=None, sa_column=_ts())


class StaffUser(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=200, unique=True)
    name: str = Field(max_length=100)
    password_hash: str = Field(max_length=200)
    role: str = Field(default="agent", max_length=12)  # agent | supervisor | admin
    active: bool = True


class AuditEvent(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_auditevent_client_at", "client_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_ts(nullable=False))
    actor_type: str = Field(max_length=10)  # staff | client | system | payer
    actor_id: int | None = None
    client_id: int | None = Field(default=None, foreign_key="client.id")
    action: str = Field(max_length=40)
    detail: str = Field(default="{}", sa_column=sa.Column(sa.Text, nullable=False))


class LoginThrottle(SQLModel, table=True):
    """Sign-in throttling state of one key: an account (hashed) or a client address. Shared by
    every instance; changed only by conditional updates on `version` (domain/throttle.py).
    The table keeps its first name, `loginattempt`."""

    __tablename__ = "loginattempt"
    key: str = Field(primary_key=True, max_length=80)
    failures: int = 0
    window_start: datetime | None = Field(default=None, sa_column=_ts())
    wait_until: datetime | None = Field(default=None, sa_column=_ts())
    expires_at: datetime | None = Field(default=None, sa_column=_ts(index=True))
    version: int = 0


class AutopayEnrollment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    vehicle_id: int = Field(foreign_key="vehicle.id", unique=True)
    card_id: int = Field(foreign_key="cardonfile.id")
    days: int = 30
    active: bool = True
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    cancelled_at: datetime | None = Field(default=None, sa_column=_ts())


def _sum(big: bool = False) -> sa.Column:  # type: ignore[type-arg]
    kind = sa.BigInteger() if big else sa.Integer()
    return sa.Column(kind, nullable=False, server_default="0")


class DailyTotal(SQLModel, table=True):
    """The Reports page's money, summed per location-local day, location, staff member and
    channel (domain/reports.py COUNTS), kept in the same transaction as every payment, refund
    and dispute change (store/daily_totals.py), so a report sums a few rows per day instead of
    every payment. `staff_id` 0: no staff member (a key column cannot be NULL)."""

    day: date = Field(primary_key=True)
    location_id: int = Field(primary_key=True, foreign_key="location.id")
    staff_id: int = Field(primary_key=True)
    channel: str = Field(primary_key=True, max_length=24)
    payments: int = Field(default=0, sa_column=_sum())
    collected_cents: int = Field(default=0, sa_column=_sum(big=True))
    refunds: int = Field(default=0, sa_column=_sum())
    refunded_cents: int = Field(default=0, sa_column=_sum(big=True))
    declines: int = Field(default=0, sa_column=_sum())
    declined_cents: int = Field(default=0, sa_column=_sum(big=True))
    disputes: int = Field(default=0, sa_column=_sum())
    disputed_cents: int = Field(default=0, sa_column=_sum(big=True))
    lost: int = Field(default=0, sa_column=_sum())
    lost_cents: int = Field(default=0, sa_column=_sum(big=True))


# Every session's flush keeps DailyTotal in step with the rows it writes (its listener is
# registered when that module loads, which needs the classes above).
importlib.import_module("app.store.daily_totals")
