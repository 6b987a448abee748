"""The Reports page's charts, as SVG drawn on the server: the geometry here, the markup in
plus/_report_chart.html. Small on purpose — horizontal bars and day columns are all the page
needs, and a chart library would be a large vendored script for that. No colour carries meaning
alone: each series has its own pattern (solid, hatched, dotted) named in a legend, every bar
of a bar chart has its value printed beside it, every bar has a <title> with its label and
value, and the table under each chart gives the same figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.formatting import day, money
from app.services.reports import MoneyRow, Report

WIDTH = 720
LABEL_W = 210  # room for a row's label on the left
VALUE_W = 150  # room for the printed value right of the longest bar
BAR_H, BAR_GAP, ROW_GAP, LEGEND_H = 16, 3, 14, 30


@dataclass(frozen=True)
class Series:
    name: str
    pattern: str  # solid | hatch | dots


@dataclass(frozen=True)
class Bar:
    series: int
    x: float
    y: float
    width: float
    height: float
    text: str  # the value, printed beside the bar (bar charts)
    title: str  # "Austin North — Collected: $182.01"


@dataclass(frozen=True)
class Row:
    label: str
    y: float  # the label's baseline
    bars: list[Bar]


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    id: str
    kind: str  # bars | columns
    title: str
    summary: str  # said by screen readers with the title; the table follows
    series: list[Series]
    rows: list[Row]
    height: float
    width: int = WIDTH
    x_ticks: tuple[Tick, ...] = ()
    y_ticks: tuple[Tick, ...] = ()
    plot: tuple[float, float, float, float] = (0, 0, 0, 0)  # x, y, width, height (columns)

    @property
    def empty(self) -> bool:
        return not any(bar.width > 0 and bar.height > 0 for row in self.rows for bar in row.bars)


MONEY_SERIES = [
    Series("Collected", "solid"),
    Series("Refunded", "hatch"),
    Series("Declined", "dots"),
]


def _money_values(row: MoneyRow) -> list[int]:
    return [row.collected_cents, row.refunded_cents, row.declined_cents]


def bars(
    chart_id: str,
    title: str,
    summary: str,
    series: list[Series],
    items: Sequence[tuple[str, list[int], list[str]]],
) -> Chart:
    """Horizontal bars: one row per item (label, a value per series, the text printed)."""
    top = max((v for _, values, _ in items for v in values), default=0)
    plot_w = WIDTH - LABEL_W - VALUE_W
    rows: list[Row] = []
    y = float(LEGEND_H)
    per_row = len(series) * (BAR_H + BAR_GAP) - BAR_GAP
    for label, values, texts in items:
        row_bars = []
        for i, (value, text) in enumerate(zip(values, texts, strict=True)):
            width = plot_w * value / top if top > 0 else 0.0
            if value > 0:
                width = max(width, 1.5)  # a small amount still shows
            row_bars.append(
                Bar(
                    series=i,
                    x=LABEL_W,
                    y=y + i * (BAR_H + BAR_GAP),
                    width=round(width, 2),
                    height=BAR_H,
                    text=text,
                    title=f"{label} — {series[i].name}: {text}",
                )
            )
        rows.append(Row(label=label, y=y + per_row / 2 + 5, bars=row_bars))
        y += per_row + ROW_GAP
    return Chart(chart_id, "bars", title, summary, series, rows, height=max(y, LEGEND_H + 20))


def _money_bars(chart_id: str, title: str, rows: Sequence[MoneyRow]) -> Chart:
    items = [(r.label, _money_values(r), [money(v) for v in _money_values(r)]) for r in rows]
    return bars(
        chart_id,
        title,
        "Bars: collected (solid), refunded (hatched) and declined (dotted), in dollars. "
        "The table below gives the same figures.",
        MONEY_SERIES,
        items,
    )


def _nice_top(value: int) -> int:
    """A round axis maximum at or above `value` cents (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 100
    step = 100
    while True:
        for m in (1, 2, 5):
            if step * m >= value:
                return step * m
        step *= 10


def columns(chart_id: str, title: str, days: Sequence[MoneyRow]) -> Chart:
    """One group of columns per day of the range (collected, refunded, declined)."""
    left, right, top, bottom = 80.0, 10.0, float(LEGEND_H) + 6, 34.0
    height = 250.0
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    peak = _nice_top(max((v for r in days for v in _money_values(r)), default=0))
    group = plot_w / max(len(days), 1)
    bar_w = max(group * 0.8 / len(MONEY_SERIES), 0.6)
    rows = []
    for i, r in enumerate(days):
        label = day(r.key)
        row_bars = []
        for s, value in enumerate(_money_values(r)):
            h = plot_h * value / peak
            if value > 0:
                h = max(h, 1.5)
            row_bars.append(
                Bar(
                    series=s,
                    x=round(left + i * group + group * 0.1 + s * bar_w, 2),
                    y=round(top + plot_h - h, 2),
                    width=round(bar_w, 2),
                    height=round(h, 2),
                    text=money(value),
                    title=f"{label} — {MONEY_SERIES[s].name}: {money(value)}",
                )
            )
        rows.append(Row(label=label, y=0, bars=row_bars))
    every = max(1, -(-len(days) // 7))  # at most 7 dates under the axis
    x_ticks = tuple(
        Tick(round(left + i * group + group / 2, 2), height - bottom + 18, day(r.key, "MMM d"))
        for i, r in enumerate(days)
        if i % every == 0
    )
    y_ticks = tuple(
        Tick(left - 6, round(top + plot_h - plot_h * k / 4, 2), money(peak * k // 4))
        for k in range(5)
    )
    return Chart(
        chart_id,
        "columns",
        title,
        "Columns per day: collected (solid), refunded (hatched) and declined (dotted), in "
        "dollars; hover a column for its figure. The table below lists every day with activity.",
        MONEY_SERIES,
        rows,
        height=height,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        plot=(left, top, plot_w, plot_h),
    )


def charts(report: Report) -> dict[str, Chart]:
    m = report.money
    funnel = report.links_total
    shares = [funnel.sent, funnel.opened, funnel.paid]
    links = bars(
        "chart-links",
        "Payment links: sent, opened, paid",
        "Bars: links sent in the range, how many of them were opened, and how many were paid. "
        "The table below gives the same figures by location.",
        [Series("Links", "solid")],
        [
            ("Sent", [funnel.sent], [str(funnel.sent)]),
            ("Opened", [funnel.opened], [f"{funnel.opened} ({funnel.opened_share})"]),
            ("Paid", [funnel.paid], [f"{funnel.paid} ({funnel.conversion})"]),
        ]
        if any(shares)
        else [],
    )
    past_due = bars(
        "chart-past-due",
        "Past-due balances by location",
        "Bars: what is owed on past-due invoices at each location, in dollars. "
        "The table below gives the same figures.",
        [Series("Past due", "hatch")],
        [(r.label, [r.owed_cents], [f"{money(r.owed_cents)}"]) for r in report.past_due],
    )
    return {
        "day": columns("chart-day", "Collected by day", report.days),
        "location": _money_bars("chart-location", "Collected by location", m.by_location),
        "staff": _money_bars("chart-staff", "Collected by staff member", m.by_staff),
        "channel": _money_bars("chart-channel", "Collected by channel", m.by_channel),
        "links": links,
        "past_due": past_due,
    }
