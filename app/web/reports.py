"""PLUS Web Reports (supervisors and admins; agents get 403): the filters are a plain GET form
that htmx also submits in place (the report region swapped, the address pushed), and the same
query answered as CSV at /plus/reports.csv."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from app.clock import Clock
from app.domain.reports import BadRange, parse_range
from app.services import reports
from app.web.deps import Db, Forbidden, Staff, clock_of
from app.web.forms import is_htmx, text_errors
from app.web.render import render
from app.web.report_charts import charts

VARY = {"Vary": "HX-Request"}
From = Annotated[str, QueryParameter(name="from", max_length=40)]
To = Annotated[str, QueryParameter(name="to", max_length=40)]
Where = Annotated[str, QueryParameter(name="location", max_length=20)]


def _allowed(staff: Staff) -> None:
    if not reports.can_see(staff):
        raise Forbidden(detail="Reports are for supervisors and admins. Ask a supervisor.")


async def _report(
    db: Db, clock: Clock, start: str, end: str, location: str
) -> tuple[dict[str, Any], int]:
    """The page's context and status: 200 with the report, or 400 with the messages by field
    (the typed values kept)."""
    now = clock.now()
    locations = await reports.locations(db)
    typed = {"from": start, "to": end, "location": location}
    refused = text_errors(typed)
    if refused:  # shown again without the refused text
        kept = {k: "" if k in refused else v for k, v in typed.items()}
        filters = reports.Filters(kept["from"], kept["to"], kept["location"])
        return {"filters": filters, "locations": locations, "errors": refused}, 400
    filters = reports.Filters(start=start, end=end, location=location)
    ctx: dict[str, Any] = {"filters": filters, "locations": locations, "errors": {}}
    try:
        where = reports.choose_location(locations, location)
    except reports.UnknownLocation as exc:
        ctx["errors"] = {"location": exc.message}
        return ctx, 400
    try:
        span = parse_range(start, end, reports.today_for(locations, where, now))
    except BadRange as exc:
        ctx["errors"] = exc.errors
        return ctx, 400
    report = await reports.build(db, locations=locations, location=where, span=span, now=now)
    query = {"from": span.start.isoformat(), "to": span.end.isoformat()}
    if where is not None:
        query["location"] = str(where.id)
    ctx.update(
        report=report,
        charts=charts(report),
        csv_url="/plus/reports.csv?" + urlencode(query),
        # the form shows the dates the report covers (an empty field filled in)
        filters=reports.Filters(query["from"], query["to"], query.get("location", "")),
    )
    return ctx, 200


async def provide_report(
    request: Request[Any, Any, Any],
    staff: Staff,
    db: Db,
    start: From = "",
    end: To = "",
    location: Where = "",
) -> tuple[dict[str, Any], int]:
    """The report for the query, for a supervisor or admin (else 403); the page and the CSV."""
    _allowed(staff)
    return await _report(db, clock_of(request), start, end, location)


Asked = NamedDependency[tuple[dict[str, Any], int]]  # provided as "asked" (provide_report)


class ReportsController(Controller):
    path = "/plus"
    dependencies = {"asked": Provide(provide_report)}

    @get("/reports", name="plus_reports")
    async def page(
        self, request: Request[Any, Any, Any], staff: Staff, asked: Asked
    ) -> Response[Any]:
        ctx, status = asked
        # Back or Forward to an address htmx pushed: htmx asks again (no history cache) and
        # puts the answer in <body>, so that answer is the whole page.
        restoring = request.headers.get("hx-history-restore-request") == "true"
        name = "plus/_report.html" if is_htmx(request) and not restoring else "plus/reports.html"
        return render(name, status_code=status, headers=VARY, staff=staff, nav="reports", **ctx)

    @get("/reports.csv", name="plus_reports_csv")
    async def csv(self, asked: Asked) -> Response[Any]:
        ctx, status = asked
        if status != 200:
            text = "\r\n".join(ctx["errors"].values()) + "\r\n"
            return Response(text, status_code=status, media_type="text/plain; charset=utf-8")
        report = ctx["report"]
        return Response(
            reports.to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{reports.csv_filename(report)}"',
                "Cache-Control": "no-store",
            },
        )
