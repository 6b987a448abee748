"""The charge types staff pick from on Add New Invoice (issue 22 item 5).

An invoice of the catalog keeps its key (`Invoice.charge_type`) next to the English text, so a
page in the client's language says it in that language (the text is a catalog message,
translated where it is shown). A charge typed by staff ("Other…") has no key and is shown as
typed, in any language.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.errors import N_, DomainError

OTHER = "other"  # the form's value for a charge described in staff's own words


@dataclass(frozen=True)
class ChargeType:
    key: str  # stored on the invoice; never renamed (rows keep it)
    text: str  # the English text, a catalog message (Spanish in messages.po)


CATALOG: tuple[ChargeType, ...] = (
    ChargeType("missed_appointment", N_("Missed appointment fee")),
    ChargeType("calibration", N_("Calibration fee")),
    ChargeType("lockout_reset", N_("Lockout reset fee")),
    ChargeType("device_removal", N_("Device removal fee")),
    ChargeType("replacement_device", N_("Replacement device fee")),
    ChargeType("installation", N_("Installation fee")),
)
_BY_KEY = {c.key: c for c in CATALOG}


class UnknownChargeType(DomainError):
    message = "Choose one of the listed charges, or Other… to describe it."  # staff: English


def find(key: str | None) -> ChargeType | None:
    """The catalog's charge for a stored key; None for a typed charge (or a key gone from the
    catalog, whose invoice is then shown by the English text it was stored with)."""
    return _BY_KEY.get(key or "")


def chosen(key: str) -> ChargeType | None:
    """What a form picked: a catalog charge, or None for OTHER (staff describe it).
    UnknownChargeType for anything else."""
    if key == OTHER:
        return None
    charge = find(key)
    if charge is None:
        raise UnknownChargeType()
    return charge
