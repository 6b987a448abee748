"""One map from what a payment did to what a person sees, for every channel that takes money
(the pay link, My Account, PLUS Take Payment). The decision is written here once; a channel
passes its own field names, words, templates and URLs.

Refused — a service raised a DomainError: nothing was charged.

    refusal(exc, channel) -> Refusal(field, status, message, params, page)
    refuse(form, exc, channel) -> int      # the message by its field; returns the status

  The shared rule for each error (the most specific class in the error's MRO wins):

    StaleSummary          form  409     PaymentsNotAccepted   form  409
    PaymentInProgress     form  409     NothingPastDue        days  409
    CardDeclined          card  402     InvalidPaymentMethod  card  422
    CardExpired, CardInUse  saved_card 422                InvalidDays  days  422
    GatewayError (other)  form  503     NotFound              record 404
    DomainError (other)   form  422

  `field` is a role; the channel names its own field for it (`Channel.fields`, e.g. Take
  Payment's card errors go by "card_id"). `Channel.rules` replaces a rule for that channel,
  `Channel.words` gives the channel's own message (`%(reason)s` is the error's own message,
  translated), `Channel.pages` a whole page to show instead of the form.

      TAKE_PAYMENT = Channel(
          fields={"card": "card_id", "saved_card": "card_id", "days": "card_id",
                  "record": "card_id"},
          rules={NotFound: Rule("record", 422)},
          words={StaleSummary: "The summary changed — review it again. Nothing was charged.",
                 CardDeclined: "The card was declined: %(reason)s Nothing was charged."},
      )
      status = outcomes.refuse(form, exc, TAKE_PAYMENT)

Done — a PaymentOutcome came back (or the processor's answer after 3-D Secure).

    step_for(status, gateway=..., client_secret=...) -> Step
    await follow(request, outcome, views, gateway=...)   # kicks the resolver for `unknown`
    await answer(views, status, gateway=..., client_secret=...)

  Step by status: succeeded/refunded/partially_refunded -> RECEIPT; failed -> DECLINED;
  requires_action -> BANK_PAGE (the sandbox's bank page) or BANK_IN_BROWSER (Stripe.js, with
  the client secret) or CONFIRMING (neither); processing -> PROCESSING; pending, unknown and
  anything else -> CONFIRMING (never "nothing was charged").

  `views` is the channel's OutcomeViews: one async method per step, taking no arguments (a
  small object built for the request holds what they need). A channel whose page has no
  separate "processing" answer returns its confirming page there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from litestar import Request, Response

from app.domain.errors import (
    CardDeclined,
    DomainError,
    GatewayError,
    InvalidDays,
    InvalidPaymentMethod,
    StaleSummary,
)
from app.domain.outcomes import SETTLED
from app.domain.summary import NothingPastDue
from app.i18n import gettext
from app.services.cards import CardExpired, CardInUse
from app.services.payments import PaymentInProgress, PaymentOutcome
from app.services.summary import NotFound, PaymentsNotAccepted
from app.web.forms import Form

# --- refused ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    role: str  # form | card (the card paying) | saved_card (one on file) | days | record
    status: int


RULES: Mapping[type[DomainError], Rule] = {
    StaleSummary: Rule("form", 409),
    PaymentsNotAccepted: Rule("form", 409),
    PaymentInProgress: Rule("form", 409),
    NothingPastDue: Rule("days", 409),
    CardDeclined: Rule("card", 402),
    InvalidPaymentMethod: Rule("card", 422),
    CardExpired: Rule("saved_card", 422),
    CardInUse: Rule("saved_card", 422),
    InvalidDays: Rule("days", 422),
    GatewayError: Rule("form", 503),
    NotFound: Rule("record", 404),
    DomainError: Rule("form", 422),
}


@dataclass(frozen=True)
class Channel:
    """What one channel says differently; everything it leaves out follows the shared rules."""

    fields: Mapping[str, str] = field(default_factory=dict)  # role -> this form's field name
    rules: Mapping[type[DomainError], Rule] = field(default_factory=dict)
    words: Mapping[type[DomainError], str] = field(default_factory=dict)
    pages: Mapping[type[DomainError], str] = field(default_factory=dict)  # error -> template

    def with_fields(self, **fields: str) -> Channel:
        """The same channel with some roles sent to other fields (decided per request)."""
        return Channel({**self.fields, **fields}, self.rules, self.words, self.pages)


@dataclass(frozen=True)
class Refusal:
    field: str
    status: int
    message: str
    params: dict[str, Any]
    page: str | None = None  # a whole page for this error, in place of the form


def _first(table: Mapping[type[DomainError], Any], exc: DomainError) -> Any:
    """The entry for the most specific class of `exc` that the table names."""
    return next((table[cls] for cls in type(exc).__mro__ if cls in table), None)


def refusal(exc: DomainError, channel: Channel) -> Refusal:
    rule: Rule = _first({**RULES, **channel.rules}, exc)
    words: str | None = _first(channel.words, exc)
    if words is None:
        message, params = exc.message, dict(exc.params)
    else:
        message, params = words, {"reason": gettext(exc.message, **exc.params)}
    return Refusal(
        field=channel.fields.get(rule.role, rule.role),
        status=rule.status,
        message=message,
        params=params,
        page=_first(channel.pages, exc),
    )


def refuse(form: Form, exc: DomainError, channel: Channel) -> int:
    """Put the error's message by its field (translated by Form.error); return the status."""
    said = refusal(exc, channel)
    form.error(said.field, said.message, **said.params)
    return said.status


# --- done ------------------------------------------------------------------------------------


class Step(Enum):
    RECEIPT = "receipt"  # the money moved: the receipt (or the page that shows it)
    DECLINED = "declined"  # the bank refused: nothing was charged
    BANK_PAGE = "bank_page"  # 3-D Secure on the sandbox bank's page (a redirect)
    BANK_IN_BROWSER = "bank_in_browser"  # 3-D Secure in this page, by Stripe.js
    PROCESSING = "processing"  # the bank accepted; the money is on its way
    CONFIRMING = "confirming"  # not known yet: 202, "don't pay again"


class OutcomeViews(Protocol):
    """A channel's answer for each step."""

    async def receipt(self) -> Response[Any]: ...
    async def declined(self) -> Response[Any]: ...
    async def bank_page(self) -> Response[Any]: ...
    async def bank_in_browser(self) -> Response[Any]: ...
    async def processing(self) -> Response[Any]: ...
    async def confirming(self) -> Response[Any]: ...


def step_for(status: str, *, gateway: str, client_secret: str | None = None) -> Step:
    if status in SETTLED:
        return Step.RECEIPT
    if status == "failed":
        return Step.DECLINED
    if status == "processing":
        return Step.PROCESSING
    if status != "requires_action":
        return Step.CONFIRMING
    if gateway == "sandbox":
        return Step.BANK_PAGE
    return Step.BANK_IN_BROWSER if client_secret else Step.CONFIRMING


async def answer(
    views: OutcomeViews, status: str, *, gateway: str, client_secret: str | None = None
) -> Response[Any]:
    step = step_for(status, gateway=gateway, client_secret=client_secret)
    respond = getattr(views, step.value)
    response: Response[Any] = await respond()
    return response


async def follow(
    request: Request[Any, Any, Any], outcome: PaymentOutcome, views: OutcomeViews, *, gateway: str
) -> Response[Any]:
    """The answer to a charge that came back. An answer the processor lost is asked for again
    in the background at once (the resolver), so the confirming page turns into the truth."""
    if outcome.status == "unknown":
        request.app.state.resolver.kick(outcome.payment_id)
    return await answer(views, outcome.status, gateway=gateway, client_secret=outcome.client_secret)
