"""Disputes (supervisors and admins; agents get 403): those needing a response, the soonest
evidence due first, each linked to where it is answered (Stripe's Dashboard), then the rest.
With the sandbox processor a supervisor plays the card's bank: Lose or Win a sandbox dispute
(a plain form post, CSRF-protected), and its event arrives as Stripe's would."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect

from app.domain.errors import DomainError
from app.services import disputes, sandbox_events
from app.web.deps import Db, Forbidden, Staff, clock_of, settings_of
from app.web.render import render

PATH = "/plus/disputes"


def _allowed(staff: Staff) -> None:
    if not disputes.can_see(staff):
        raise Forbidden(detail=disputes.DisputesNotAllowed.message)


class DisputesController(Controller):
    path = "/plus"

    @get("/disputes", name="plus_disputes")
    async def page(self, request: Request[Any, Any, Any], staff: Staff, db: Db) -> Response[Any]:
        _allowed(staff)
        settings = settings_of(request)
        decided = request.query_params.get("decided", "")
        return render(
            "disputes/page.html",
            staff=staff,
            nav="disputes",
            due=await disputes.needing_response(db),
            others=await disputes.recent(db),
            sandbox=settings.payments_gateway == "sandbox",
            stripe=settings.payments_gateway == "stripe",
            decided=decided if decided in ("lost", "won") else "",
        )

    @post("/disputes/{dispute_id:int}/sandbox", name="plus_dispute_sandbox", status_code=303)
    async def sandbox_decide(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        dispute_id: FromPath[int],
    ) -> Response[Any]:
        _allowed(staff)
        clock, settings = clock_of(request), settings_of(request)
        if settings.payments_gateway != "sandbox":
            raise NotFoundException()
        outcome = str((await request.form()).get("outcome") or "")
        try:
            await sandbox_events.decide_dispute(
                request.app.state.sessionmaker,
                request.app.state.gateway,
                clock,
                settings.company_name,
                staff=staff,
                dispute_id=dispute_id,
                outcome=outcome,
            )
        except disputes.DisputeNotFound:
            raise NotFoundException(detail=disputes.DisputeNotFound.message) from None
        except DomainError as exc:
            return Response(exc.message, status_code=400, media_type="text/plain; charset=utf-8")
        return Redirect(f"{PATH}?decided={outcome}", status_code=303)
