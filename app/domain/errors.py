"""Errors a user can cause. `app.web` turns each into a clear message."""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:  # noqa: N802 - gettext's no-op marker: the catalog picks these up
    """Messages are marked here and translated where a client reads them (app.web); the domain
    imports nothing from app, so this is the marker's own copy."""
    return message


class DomainError(Exception):
    """A rule was broken by input or by the state of the world, not by a bug."""

    message: str = N_("Something is not right with this request.")
    # %(name)s values for `message`, filled in when it is translated (see app.web.forms.Form)
    params: dict[str, Any] = {}

    def __init__(self, message: str | None = None, **params: Any) -> None:
        if message is not None:
            self.message = message
        self.params = params
        super().__init__(self.message % params if params else self.message)


class InvalidPhone(DomainError):
    message = N_("Enter a valid US mobile number, like (512) 555-0101.")


class InvalidAmount(DomainError):
    message = N_("Enter an amount in dollars and cents, like 85.00.")


class InvalidDays(DomainError):
    message = N_("Monitor days must be 14 or 30.")


class StaleSummary(DomainError):
    message = N_(
        "This summary is out of date: the account changed since it was prepared "
        "(an invoice was paid or the vehicle's paid-through date moved)."
    )


# -- what a card processor can answer (every payment adapter raises these) -------------------


class GatewayError(DomainError):
    """The processor refused the request, or failed before doing anything: nothing was charged."""

    message = N_("The payment could not be completed. Nothing was charged.")


class CardDeclined(GatewayError):
    """The card was refused. `message` is plain words a payer can act on."""

    def __init__(
        self,
        code: str,
        message: str,
        processor_ref: str | None = None,
        *,
        brand: str | None = None,
        last4: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code  # generic_decline | insufficient_funds | expired_card | incorrect_cvc
        self.processor_ref = processor_ref
        self.brand, self.last4 = brand, last4  # the refused card, when the processor says


class InvalidPaymentMethod(GatewayError):
    message = N_("The card details could not be read. Enter the card again.")


class GatewayUnavailable(GatewayError):
    """The processor could not be reached and certainly did nothing (refused before work)."""

    message = N_(
        "We could not reach the payment processor. Nothing was charged. Please try again in a"
        " minute."
    )


class ProcessorBusy(GatewayUnavailable):
    """The processor refused the request as too many (HTTP 429, its rate limit) before doing
    anything: nothing was charged, and the same request may be sent again after a wait.
    `retry_after`: seconds the processor asked us to wait (None: it did not say);
    `should_retry`: False when it said asking again will not help (Stripe-Should-Retry: false)."""

    message = N_("The payment processor is busy right now. Nothing was charged. Please try again.")

    def __init__(self, retry_after: float | None = None, *, should_retry: bool = True) -> None:
        super().__init__()
        self.retry_after = retry_after
        self.should_retry = should_retry


class OutcomeUnknown(DomainError):
    """The request may have reached the processor and charged, but its answer was lost
    (timeout, reset, 5xx, a crash). Never "nothing was charged": resolved by asking again."""

    message = N_(
        "We're confirming your payment with your bank. Don't pay again: we'll text you the "
        "result, and this page updates by itself."
    )


# -- what an SMS provider can answer (every SMS adapter raises these) ------------------------
# Staff and logs read these (a text's last error), never a client: plain English, no N_.


class SmsNotSent(DomainError):
    """The provider refused the text, or failed before taking it: nothing was sent.
    `permanent`: no retry can help (the recipient texted STOP, a number that cannot get texts)."""

    message = "The text message could not be sent."

    def __init__(self, message: str | None = None, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class SmsUnavailable(SmsNotSent):
    """The provider could not be reached (or could not answer a lookup): nothing happened."""

    message = "The text message provider could not be reached."


class SmsOutcomeUnknown(DomainError):
    """The text may have been taken (and sent) but the answer was lost: a timeout, a dropped
    connection, a 5xx. Never resent blindly: looked up at the provider first."""

    message = "The text message may have been sent; its answer was lost."
