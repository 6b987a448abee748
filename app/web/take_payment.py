"""PLUS Web Take Payment (Account History): pick the vehicle and days, review the amount and the
card on file, charge it once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect

from app.domain.errors import CardDeclined, DomainError, InvalidDays, StaleSummary
from app.domain.periods import ALLOWED_DAYS
from app.domain.summary import PAST_DUE_CHOICE, NothingPastDue, parse_choice
from app.formatting import money
from app.services import ledger, payments, take_payment
from app.services.accounts import AccountView
from app.services.cards import CardExpired
from app.services.ledger import PaymentView
from app.services.staff_request import StaffRequest, new_key
from app.services.summary import NotFound, PaymentsNotAccepted
from app.web import outcomes
from app.web.deps import Staff, clock_of, release_connection, settings_of
from app.web.forms import FINGERPRINT, Form, is_htmx, parse_id, read_form
from app.web.history_page import PATH, base, card_words, context, panel, respond
from app.web.plus import CLIENT_PAGE, ClientPage, Page


def _default_vehicle(account: AccountView, wanted: str) -> str:
    ids = [str(v.id) for v in account.vehicles]
    if wanted in ids:
        return wanted
    return ids[0] if ids else ""


def _cycle_days(account: AccountView, vehicle_id: str) -> str:
    for v in account.vehicles:
        if str(v.id) == vehicle_id:
            return str(v.billing_cycle_days if v.billing_cycle_days in ALLOWED_DAYS else 30)
    return "30"


# What the days field may say: 14 or 30 days, or the past due balance only (offered when there
# is one; the domain refuses it when there is none).
CHOICES = {*(str(d) for d in ALLOWED_DAYS), PAST_DUE_CHOICE}


def _can_take(account: AccountView, vehicle_id: str) -> str | None:
    """Why no payment can be taken on this account, or None."""
    if not account.location.accepts_payments:
        return PaymentsNotAccepted.message
    if not vehicle_id:
        return "This client has no vehicles to take a payment for."
    return None


async def _quote(page: ClientPage, form: Form) -> take_payment.Quote:
    return await take_payment.quote(
        page.db,
        client_id=page.client_id,
        vehicle_id=parse_id(form.get("vehicle_id")) or 0,  # one of this client's (checked)
        days=parse_choice(form.get("days")),
        now=page.now,
    )


async def _quote_or_cycle(page: ClientPage, form: Form) -> tuple[take_payment.Quote, int]:
    """The quote for the choice; when the past due balance only was asked for and nothing is
    past due (any more), the domain's message by the field and the vehicle's own cycle."""
    try:
        return await _quote(page, form), 200
    except NothingPastDue as exc:
        form.error("days", exc.message)
        form.values["days"] = _cycle_days(page.account, form.get("vehicle_id"))
        return await _quote(page, form), 409


async def fill_form(page: ClientPage, ctx: dict[str, Any], form: Form) -> int:
    """Fill the Take Payment step: pick (vehicle, days or the past due balance only) and, when
    valid, the summary + cards. Returns the status to answer with."""
    account = page.account
    vehicle_id = _default_vehicle(account, form.get("vehicle_id"))
    form.values["vehicle_id"] = vehicle_id
    if form.get("days") not in CHOICES:
        if form.get("days"):
            form.error("days", "Choose 14 or 30 days.")
        form.values["days"] = _cycle_days(account, vehicle_id)
    ctx.update(action="take_payment", form=form, step="pick", quote=None)
    refused = _can_take(account, vehicle_id)
    if refused:
        form.error("form", refused)
        return 409
    try:
        quote, status = await _quote_or_cycle(page, form)
    except (InvalidDays, NotFound) as exc:
        form.error("days" if isinstance(exc, InvalidDays) else "vehicle_id", exc.message)
        return 422
    ctx["quote"] = quote
    usable = [c for c in quote.cards if c.usable]
    if "card_id" not in form.values and usable:
        form.values["card_id"] = str(usable[0].id)
    return status


def paid_notice(payment: PaymentView, fallback: str = "the card") -> tuple[str, str]:
    card = card_words(payment, fallback)
    amount = money(payment.amount_cents)
    if payment.status == "succeeded":
        return ("ok", f"Payment of {amount} charged to {card}.")
    if payment.status in ("pending", "unknown"):
        return (
            "warn",
            f"We're confirming the payment of {amount} to {card} with the processor. Don't "
            "charge again: the ledger shows the result in a minute.",
        )
    return ("error", f"The payment of {amount} to {card} did not go through.")


# Take Payment's words and fields in the one outcome map (web/outcomes.py): a card on file is
# picked by `card_id`, and what is wrong with it, the days or the records goes by that field;
# a past due balance that is gone goes by the choice of what to pay (`days`).
TAKE_PAYMENT = outcomes.Channel(
    fields={
        "card": "card_id",
        "saved_card": "card_id",
        "days": "card_id",
        "record": "card_id",
        "choice": "days",
    },  # fmt: skip
    # The past due balance paid meanwhile: said by the choice itself (the pick step shows it).
    rules={NotFound: outcomes.Rule("record", 422), NothingPastDue: outcomes.Rule("choice", 409)},
    words={
        StaleSummary: "The summary changed — review it again. Nothing was charged.",
        CardDeclined: "The card was declined: %(reason)s Nothing was charged.",
    },
)
NOT_REVIEWED = outcomes.Refusal("form", 422, "Choose a card and review the payment first.", {})


async def _pick_again(
    request: Request[Any, Any, Any], page: ClientPage, form: Form, said: outcomes.Refusal
) -> Response[Any]:
    """The pick step again, as the account is now, with what went wrong by its field."""
    ctx = await context(page)
    await fill_form(page, ctx, form)
    form.error(said.field, said.message, **said.params)
    return respond(request, ctx, said.status)


@dataclass(frozen=True)
class _Charged:
    """Take Payment's answer to each step of a charge that came back (outcomes.follow): the
    card was declined, or the tab with the payment's notice (charged, or being confirmed)."""

    request: Request[Any, Any, Any]
    page: ClientPage
    form: Form
    outcome: payments.PaymentOutcome
    card: str  # the card charged, for a payment that does not name its own

    async def declined(self) -> Response[Any]:
        reason = {"reason": self.outcome.failure_message or ""}
        said = outcomes.Refusal("card_id", 402, TAKE_PAYMENT.words[CardDeclined], reason)
        return await _pick_again(self.request, self.page, self.form, said)

    async def receipt(self) -> Response[Any]:
        client_id, payment_id = self.page.client_id, self.outcome.payment_id
        if not is_htmx(self.request):
            return Redirect(f"{base(client_id)}?paid={payment_id}", status_code=303)
        ctx = await context(self.page)
        payment = await ledger.payment(self.page.db, client_id, payment_id)
        assert payment is not None
        ctx["notice"] = paid_notice(payment, fallback=self.card)
        return respond(self.request, ctx)

    # Staff charge a card on file off-session: whatever else came back, the tab says it (the
    # notice reads the payment as it is: charged, or being confirmed).
    confirming = processing = bank_page = bank_in_browser = receipt


class TakePaymentController(Controller):
    path = PATH
    dependencies = CLIENT_PAGE

    @get("/take-payment", name="plus_take_payment")
    async def take_form(
        self, request: Request[Any, Any, Any], page: Page, vehicle_id: FromQuery[str] = "",
        days: FromQuery[str] = "", quoted_vehicle_id: FromQuery[str] = "",
    ) -> Response[Any]:  # fmt: skip
        if quoted_vehicle_id and quoted_vehicle_id != vehicle_id:
            days = ""  # another vehicle was picked: start from its own billing cycle
        ctx = await context(page, with_ledger=not is_htmx(request))
        form = Form(values={k: v for k, v in (("vehicle_id", vehicle_id), ("days", days)) if v})
        return panel(request, ctx, await fill_form(page, ctx, form))

    @post("/take-payment/review", name="plus_take_payment_review")
    async def review(
        self, request: Request[Any, Any, Any], staff: Staff, page: Page
    ) -> Response[Any]:
        """The confirmation step: repeats amount and card; nothing is charged yet."""
        form = await read_form(request)
        ctx = await context(page)
        status = await fill_form(page, ctx, form)
        if status != 200:
            return respond(request, ctx, status)
        card_id = parse_id(form.get("card_id"))
        try:
            if card_id is None:
                raise NotFound("Choose a card on file.")
            card = await take_payment.chosen_card(
                page.db, client_id=page.client_id, card_id=card_id, now=page.now,
                tz=page.account.location.timezone,
            )  # fmt: skip
        except (NotFound, CardExpired) as exc:
            form.error("card_id", exc.message)
            return respond(request, ctx, 422)
        ctx.update(step="confirm", card=card, request_key=new_key())
        return respond(request, ctx)

    @post("/payments", name="plus_take_payment_charge")
    async def charge(
        self, request: Request[Any, Any, Any], staff: Staff, page: Page
    ) -> Response[Any]:
        clock, settings = clock_of(request), settings_of(request)
        form = await read_form(request)
        reviewed = form.get("reviewed")

        card_id = parse_id(form.get("card_id"))
        vehicle_id = parse_id(form.get("vehicle_id"))
        if card_id is None or vehicle_id is None or not FINGERPRINT.fullmatch(reviewed):
            return await _pick_again(request, page, form, NOT_REVIEWED)
        await release_connection(page.db)
        try:
            days = parse_choice(form.get("days"))
            outcome, card = await take_payment.take(
                request.app.state.sessionmaker,
                request.app.state.gateway,
                clock,
                StaffRequest(staff, page.client_id, form.get("request_key")),
                vehicle_id=vehicle_id,
                days=days,
                card_id=card_id,
                reviewed=reviewed,
                company=settings.company_name,
            )
        except DomainError as exc:
            said = outcomes.refusal(exc, TAKE_PAYMENT)
            return await _pick_again(request, page.at(clock.now()), form, said)
        charged = _Charged(
            request, page.at(clock.now()), form, outcome, f"{card.brand} ending {card.last4}"
        )
        return await outcomes.follow(request, outcome, charged, gateway=settings.payments_gateway)
