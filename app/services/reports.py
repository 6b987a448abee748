"""Reports for supervisors and admins: money collected (with refunds, declines and disputes —
opened, and lost — beside it, a lost dispute apart from refunds) by
day, location, staff member and channel; payment links sent → opened → paid; past-due balances
by location. The dates are each location's local dates; the database does the sums
(store/report_queries.py; the money from the daily totals, store/daily_totals.py); the rules are
domain/reports.py."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import reports as rules
from app.domain.errors import DomainError
from app.domain.money import cents_to_plain
from app.domain.periods import local_today
from app.store import report_queries as q
from app.store.models import Location, StaffUser

MoneyRow = q.MoneyRow  # what the page and the charts show
REPORT_ROLES = ("supervisor", "admin")
NO_STAFF = "No staff member recorded"
ALL = "All locations"  # the totals' label, and the report's place when it is every location


class UnknownLocation(DomainError):
    message = "Choose a location from the list."


@dataclass(frozen=True)
class Filters:
    """What the person asked for, as typed (kept in the form when something is wrong)."""

    start: str = ""
    end: str = ""
    location: str = ""  # a location id, or "" for every location


@dataclass(frozen=True)
class LinkFunnel:
    label: str
    sent: int
    opened: int
    paid: int
    median_seconds: int | None

    @property
    def conversion_tenths(self) -> int | None:
        return rules.conversion_tenths(self.paid, self.sent)

    @property
    def conversion(self) -> str:
        return rules.percent_text(self.conversion_tenths)

    @property
    def opened_share(self) -> str:
        return rules.percent_text(rules.conversion_tenths(self.opened, self.sent))

    @property
    def median(self) -> str:
        return rules.duration_text(self.median_seconds)


@dataclass(frozen=True)
class Report:
    span: rules.DateRange
    location: Location | None  # None: every location
    money: q.Money
    links: list[LinkFunnel]  # one per location with links
    links_total: LinkFunnel
    past_due: list[q.PastDueRow]  # one per location with a past due balance

    @property
    def past_due_total(self) -> q.PastDueRow:
        """The sums of the rows, named for the report's place."""
        rows = self.past_due
        return q.PastDueRow(
            None,
            self.location.name if self.location else ALL,
            sum(r.invoices for r in rows),
            sum(r.clients for r in rows),
            sum(r.owed_cents for r in rows),
        )

    @property
    def days(self) -> list[q.MoneyRow]:
        """Every day of the range, those without activity as zeros (for the chart)."""
        have = {row.key: row for row in self.money.by_day}
        return [have.get(d) or q.MoneyRow(d, "", 0, 0, 0, 0, 0, 0) for d in self.span.dates()]


async def locations(session: AsyncSession) -> list[Location]:
    return await q.locations(session)


def can_see(staff: StaffUser) -> bool:
    return staff.role in REPORT_ROLES


def today_for(locations: list[Location], location: Location | None, now: datetime) -> date:
    """The default end date: the location's today; for every location, the latest of them."""
    scope = [location] if location else locations
    return max((local_today(now, loc.timezone) for loc in scope), default=now.date())


def choose_location(locations: list[Location], wanted: str) -> Location | None:
    """The location asked for by id ("" for all), or UnknownLocation."""
    if not wanted.strip():
        return None
    for loc in locations:
        if str(loc.id) == wanted.strip():
            return loc
    raise UnknownLocation()


def _zones(locations: list[Location], span: rules.DateRange, now: datetime) -> list[q.Zone]:
    zones = []
    for loc in locations:
        start, end = rules.utc_bounds(span, loc.timezone)
        zones.append(
            q.Zone(
                location_id=loc.id or 0,
                start=start,
                end=end,
                segments=rules.offset_segments(span, loc.timezone),
                today=local_today(now, loc.timezone),
            )
        )
    return zones


async def _funnel(
    session: AsyncSession, zones: list[q.Zone], label: str, sent: int, opened: int, paid: int
) -> LinkFunnel:
    offset, count = rules.median_window(paid)
    middle = await q.middle_seconds_to_pay(session, zones, offset, count)
    return LinkFunnel(label, sent, opened, paid, rules.median_of_middle(middle))


async def build(
    session: AsyncSession,
    *,
    locations: list[Location],
    location: Location | None,
    span: rules.DateRange,
    now: datetime,
) -> Report:
    scope = [location] if location else locations
    zones = _zones(scope, span, now)
    if not zones:
        empty = q.MoneyRow(None, "All", 0, 0, 0, 0, 0, 0)
        nothing = LinkFunnel(ALL, 0, 0, 0, None)
        return Report(span, location, q.Money(empty, [], [], [], []), [], nothing, [])
    money = await q.money(session, [z.location_id for z in zones], span)
    by_channel = {row.key: row for row in money.by_channel}
    channels = [
        q.MoneyRow(key, name, *_counts(by_channel.pop(key, None)))
        for key, name in rules.CHANNELS.items()
    ] + [q.MoneyRow(k, str(k), *_counts(r)) for k, r in by_channel.items()]
    by_staff = [
        q.MoneyRow(r.key, r.label if r.key is not None else NO_STAFF, *_counts(r))
        for r in money.by_staff
    ]

    link_rows = await q.links(session, zones)
    funnels = []
    for row in link_rows:
        zone = [z for z in zones if z.location_id == row.location_id]
        funnels.append(await _funnel(session, zone, row.label, row.sent, row.opened, row.paid))
    # The totals of a handful of per-location sums (never of payment rows).
    total = await _funnel(
        session,
        zones,
        location.name if location else ALL,
        sum(r.sent for r in link_rows),
        sum(r.opened for r in link_rows),
        sum(r.paid for r in link_rows),
    )
    return Report(
        span=span,
        location=location,
        money=q.Money(money.total, money.by_day, money.by_location, by_staff, channels),
        links=funnels,
        links_total=total,
        past_due=await q.past_due(session, zones),
    )


def _counts(row: q.MoneyRow | None) -> tuple[int, ...]:
    if row is None:
        return (0,) * 10
    return (
        row.payments,
        row.collected_cents,
        row.refunds,
        row.refunded_cents,
        row.declines,
        row.declined_cents,
        row.disputes,
        row.disputed_cents,
        row.lost,
        row.lost_cents,
    )


# -- CSV -----------------------------------------------------------------------------------

CSV_HEADER = (
    "section",
    "item",
    "payments",
    "collected",
    "refunds",
    "refunded",
    "net",
    "declines",
    "declined",
    "links_sent",
    "links_opened",
    "links_paid",
    "conversion_percent",
    "median_seconds_to_pay",
    "past_due_invoices",
    "past_due_clients",
    "past_due",
    "disputes",
    "disputed",
    "disputes_lost",
    "lost_to_disputes",
)


def _money_line(section: str, item: str, row: q.MoneyRow) -> list[str]:
    return (
        [
            section,
            rules.csv_text(item),
            str(row.payments),
            cents_to_plain(row.collected_cents),
            str(row.refunds),
            cents_to_plain(row.refunded_cents),
            cents_to_plain(row.net_cents),
            str(row.declines),
            cents_to_plain(row.declined_cents),
        ]
        + [""] * 8
        + [
            str(row.disputes),
            cents_to_plain(row.disputed_cents),
            str(row.lost),
            cents_to_plain(row.lost_cents),
        ]
    )


def csv_rows(report: Report) -> list[list[str]]:
    """The page's tables as rows: every money row (total, day, location, staff, channel), then
    the link funnels, then past due. Amounts are dollars with two decimals; names are text a
    spreadsheet will not run."""
    rows: list[list[str]] = [list(CSV_HEADER)]
    rows.append(_money_line("total", report.links_total.label, report.money.total))
    rows += [_money_line("day", r.key.isoformat(), r) for r in report.money.by_day]
    rows += [_money_line("location", r.label, r) for r in report.money.by_location]
    rows += [_money_line("staff", r.label, r) for r in report.money.by_staff]
    rows += [_money_line("channel", r.label, r) for r in report.money.by_channel]
    for section, funnel in [("links", f) for f in report.links] + [
        ("links_total", report.links_total)
    ]:
        tenths = funnel.conversion_tenths
        rows.append(
            [section, rules.csv_text(funnel.label)]
            + [""] * 7
            + [
                str(funnel.sent),
                str(funnel.opened),
                str(funnel.paid),
                "" if tenths is None else f"{tenths // 10}.{tenths % 10}",
                "" if funnel.median_seconds is None else str(funnel.median_seconds),
            ]
            + [""] * 7
        )
    for section, due in [("past_due", r) for r in report.past_due] + [
        ("past_due_total", report.past_due_total)
    ]:
        rows.append(
            [section, rules.csv_text(due.label)]
            + [""] * 12
            + [str(due.invoices), str(due.clients), cents_to_plain(due.owed_cents)]
            + [""] * 4
        )
    return rows


def to_csv(report: Report) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(csv_rows(report))
    return out.getvalue()


def csv_filename(report: Report) -> str:
    where = f"location-{report.location.id}" if report.location else "all-locations"
    return f"monitorpay-report-{report.span.start}-to-{report.span.end}-{where}.csv"
