"""Deterministic demo data (SPEC §7), dates relative to today at each location."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.adapters.payments import sandbox
from app.domain.money import tax_cents
from app.domain.periods import local_today, next_period
from app.domain.phone import digits, national, normalize
from app.domain.summary import monitoring_label
from app.services.sign_in import hash_password
from app.store.models import (
    CardOnFile,
    Client,
    Location,
    Payment,
    PaymentAllocation,
    StaffUser,
    Vehicle,
)
from app.store.repo import add_invoice

SUPPORT_PHONE = "+18005550199"
FIRST = [
    "Ava",
    "Ben",
    "Carla",
    "Diego",
    "Elena",
    "Frank",
    "Gina",
    "Hector",
    "Iris",
    "Jorge",
    "Kara",
    "Luis",
    "Mia",
    "Noah",
    "Olga",
    "Pedro",
    "Quinn",
    "Rosa",
    "Sam",
    "Tina",
    "Uriel",
    "Vera",
    "Will",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Andre",
    "Beth",
    "Cesar",
    "Dana",
]
LAST = [
    "Garcia",
    "Smith",
    "Nguyen",
    "Johnson",
    "Martinez",
    "Brown",
    "Davis",
    "Rodriguez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Baker",
]
CARS = [
    ("Toyota", "Corolla"),
    ("Honda", "Accord"),
    ("Ford", "Focus"),
    ("Chevrolet", "Silverado"),
    ("Nissan", "Sentra"),
    ("Hyundai", "Elantra"),
    ("Kia", "Soul"),
    ("Dodge", "Ram 1500"),
    ("Jeep", "Wrangler"),
    ("Subaru", "Outback"),
    ("Mazda", "3"),
    ("GMC", "Sierra"),
]


def _appointment(today: date, days_ahead: int, tz: str) -> datetime:
    local = datetime.combine(today + timedelta(days=days_ahead), time(10, 0), ZoneInfo(tz))
    return local.astimezone(UTC)


async def is_empty(session: AsyncSession) -> bool:
    count = (await session.execute(select(func.count()).select_from(Location))).scalar_one()
    return count == 0


def _location(name: str, timezone: str, processor_account: str | None) -> Location:
    """A demo location: Texas's tax and the same prices; payments on with a processor account."""
    return Location(
        name=name,
        timezone=timezone,
        tax_rate_bp=825,
        price_14_cents=4500,
        price_30_cents=8500,
        payments_enabled=processor_account is not None,
        processor_account=processor_account,
        support_phone=SUPPORT_PHONE,
    )


async def seed(session: AsyncSession, now: datetime, generated: int = 300) -> None:
    austin = _location("Austin North", "America/Chicago", "acct_austin_north")
    el_paso = _location("El Paso", "America/Denver", None)  # does not take payments
    session.add_all([austin, el_paso])
    session.add_all(
        [
            StaffUser(
                email="agent@demo.test",
                name="Alex Agent",
                password_hash=hash_password("demo-agent-pass"),
                role="agent",
            ),
            StaffUser(
                email="supervisor@demo.test",
                name="Sandra Supervisor",
                password_hash=hash_password("demo-supervisor-pass"),
                role="supervisor",
            ),
            StaffUser(
                email="admin@demo.test",
                name="Adrian Admin",
                password_hash=hash_password("demo-admin-pass"),
                role="admin",
            ),
        ]
    )
    await session.flush()
    assert austin.id is not None and el_paso.id is not None
    today = local_today(now, austin.timezone)
    client_hash = hash_password("demo-client-pass")

    def client(acct: str, first: str, last: str, phone: str, loc: Location, **kw: Any) -> Client:
        e164 = normalize(phone)
        assert loc.id is not None
        return Client(
            account_number=acct,
            first_name=first,
            last_name=last,
            search_name=f"{first} {last}".lower(),
            phone_e164=e164,
            phone_digits=digits(national(e164)),
            email=f"{first}.{last}@example.com".lower(),
            location_id=loc.id,
            created_at=now - timedelta(days=200),
            **kw,
        )

    maria = client("100001", "Maria", "Lopez", "(512) 555-0101", austin, password_hash=client_hash)
    james = client("100002", "James", "Carter", "(512) 555-0102", austin, password_hash=client_hash)
    ana = client("100003", "Ana", "Ruiz", "(915) 555-0103", el_paso, password_hash=client_hash)
    derek = client(
        "100004",
        "Derek",
        "Hunt",
        "(512) 555-0104",
        austin,
        password_hash=client_hash,
        sms_opt_out=True,
    )
    session.add_all([maria, james, ana, derek])
    await session.flush()

    def vehicle(
        c: Client,
        year: int,
        make: str,
        model: str,
        plate: str,
        serial: str,
        cycle: int,
        paid_days: int,
        appt_days: int,
        tz: str,
    ) -> Vehicle:
        assert c.id is not None
        return Vehicle(
            client_id=c.id,
            year=year,
            make=make,
            model=model,
            plate=plate,
            device_serial=serial,
            billing_cycle_days=cycle,
            paid_through=today + timedelta(days=paid_days),
            next_appointment=_appointment(today, appt_days, tz),
        )

    civic = vehicle(
        maria, 2018, "Honda", "Civic", "LMT-4821", "IID-20418", 30, 5, 12, austin.timezone
    )
    f150 = vehicle(james, 2015, "Ford", "F-150", "JCR-1150", "IID-31877", 30, 2, 6, austin.timezone)
    camry = vehicle(
        james, 2020, "Toyota", "Camry", "JCR-2020", "IID-31902", 14, 9, 6, austin.timezone
    )
    altima = vehicle(
        ana, 2016, "Nissan", "Altima", "ARZ-7716", "IID-55210", 30, 3, 9, el_paso.timezone
    )
    malibu = vehicle(
        derek, 2012, "Chevrolet", "Malibu", "DHN-1212", "IID-41003", 30, 11, 20, austin.timezone
    )
    session.add_all([civic, f150, camry, altima, malibu])
    await session.flush()

    # Each demo vehicle's last period was paid, so the ledgers have history.
    for c, v, loc in (
        (maria, civic, austin),
        (james, f150, austin),
        (james, camry, austin),
        (ana, altima, el_paso),
        (derek, malibu, austin),
    ):
        card = ("Mastercard", "4444") if c is james else ("Visa", "4242")
        await _paid_period(session, c, v, loc, now, card)

    assert james.id is not None
    await add_invoice(
        session,
        client_id=james.id,
        vehicle_id=f150.id,
        kind="charge",
        charge_type="missed_appointment",  # domain/charges.py: said in the client's language
        description="Missed appointment fee",
        amount_cents=9000,
        tax_cents=0,
        due_date=today - timedelta(days=20),
        status="open",
        created_at=now - timedelta(days=35),
    )
    exp_future = today.year + 2
    assert maria.id is not None
    session.add_all(
        [
            _card(maria, "Visa 4242", (8, exp_future), now - timedelta(days=150)),
            _card(james, "Mastercard 4444", (11, exp_future), now - timedelta(days=120)),
            _card(
                james, "Visa 1881", (3, today.year - 1), now - timedelta(days=700), default=False
            ),
        ]
    )
    await _generated(session, austin, el_paso, now, today, generated)
    await session.commit()


def _card(
    c: Client, card: str, expires: tuple[int, int], saved: datetime, default: bool = True
) -> CardOnFile:
    """A demo card on file ("Visa 4242": brand and last 4, month and year it expires), with the
    sandbox's reference and fingerprint for it."""
    assert c.id is not None
    brand, last4 = card.rsplit(" ", 1)
    month, year = expires
    return CardOnFile(
        client_id=c.id,
        processor_ref=f"pm_sandbox_{brand.lower()}_{last4}",
        brand=brand,
        last4=last4,
        fingerprint=sandbox.fingerprint(last4),
        exp_month=month,
        exp_year=year,
        is_default=default,
        created_at=saved,
    )


async def _paid_period(
    session: AsyncSession,
    c: Client,
    v: Vehicle,
    loc: Location,
    now: datetime,
    card: tuple[str, str],
) -> None:
    assert c.id is not None and v.id is not None
    days = v.billing_cycle_days
    start_from = v.paid_through - timedelta(days=days)
    period = next_period(start_from, days)
    price = loc.price_for(days)
    tax = tax_cents(price, loc.tax_rate_bp)
    paid_at = now - timedelta(days=(now.date() - period.start).days + 2)
    payment = Payment(
        client_id=c.id,
        vehicle_id=v.id,
        amount_cents=price + tax,
        channel="staff_card_on_file",
        status="succeeded",
        idempotency_key=f"seed-{v.id}-{period.start}",
        processor_ref=f"pi_seed_{v.id}",
        card_brand=card[0],
        card_last4=card[1],
        summary_json="{}",
        created_at=paid_at,
        completed_at=paid_at,
    )
    session.add(payment)
    invoice = await add_invoice(
        session,
        client_id=c.id,
        vehicle_id=v.id,
        kind="monitoring",
        description=monitoring_label(days, v.label, period),
        amount_cents=price,
        tax_cents=tax,
        due_date=period.start,
        status="paid",
        period_start=period.start,
        period_end=period.end,
        created_at=paid_at,
        paid_at=paid_at,
    )
    await session.flush()
    assert payment.id is not None and invoice.id is not None
    payment.invoice_id = invoice.id
    session.add(
        PaymentAllocation(payment_id=payment.id, invoice_id=invoice.id, amount_cents=price + tax)
    )


async def _generated(
    session: AsyncSession,
    austin: Location,
    el_paso: Location,
    now: datetime,
    today: date,
    count: int,
) -> None:
    rng = random.Random(20261125)  # deterministic
    # About a quarter of the clients speak Spanish first. A random generator of its own, so the
    # names, phones and vehicles drawn from `rng` stay what they always were.
    speaks = random.Random(20261126)
    for i in range(count):
        language = "es" if speaks.random() < 0.25 else "en"
        loc = austin if rng.random() < 0.8 else el_paso
        assert loc.id is not None
        first, last = rng.choice(FIRST), rng.choice(LAST)
        area = "512" if loc is austin else "915"
        e164 = normalize(f"({area}) 555-{1000 + i:04d}")
        c = Client(
            account_number=f"{100005 + i:06d}",
            first_name=first,
            last_name=last,
            search_name=f"{first} {last}".lower(),
            phone_e164=e164,
            phone_digits=digits(national(e164)),
            email=f"client{100005 + i}@example.com",
            location_id=loc.id,
            sms_opt_out=rng.random() < 0.05,
            created_at=now - timedelta(days=rng.randint(10, 900)),
            language=language,
        )
        session.add(c)
        await session.flush()
        assert c.id is not None
        make, model = rng.choice(CARS)
        cycle = 14 if rng.random() < 0.3 else 30
        v = Vehicle(
            client_id=c.id,
            year=rng.randint(2008, 2024),
            make=make,
            model=model,
            plate=f"{rng.choice('ABCDEFGHJK')}{rng.choice('LMNPRSTUVW')}{rng.choice('XYZ')}-"
            f"{rng.randint(1000, 9999)}",
            device_serial=f"IID-{60000 + i}",
            billing_cycle_days=cycle,
            paid_through=today + timedelta(days=rng.randint(-10, 25)),
            next_appointment=_appointment(today, rng.randint(1, 40), loc.timezone),
        )
        session.add(v)
        if rng.random() < 0.15:
            await add_invoice(
                session,
                client_id=c.id,
                kind="charge",
                description="Device service call",
                amount_cents=rng.choice([3500, 6000, 9000]),
                tax_cents=0,
                due_date=today - timedelta(days=rng.randint(1, 40)),
                status="open",
                created_at=now - timedelta(days=45),
            )
