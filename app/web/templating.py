"""Jinja setup: the only place money, dates and phone numbers become text (money and dates by
the formatters built once, web/formats.py: Babel's text without Babel's per-call work)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment
from litestar.plugins.jinja import JinjaTemplateEngine

from app import i18n
from app.domain import charges, phone
from app.web import static_assets
from app.web.formats import day, local_datetime, local_time, money


def configure(engine: JinjaTemplateEngine) -> None:
    env: Environment = engine.engine
    i18n.install(env)
    env.filters["money"] = money
    env.filters["day"] = day
    env.filters["local_time"] = local_time
    env.filters["local_datetime"] = local_datetime
    env.filters["phone"] = phone.national
    env.filters["mask_phone"] = phone.mask
    env.filters["digits"] = phone.digits
    env.filters["charge"] = charge_text
    env.globals["charge_types"] = charges.CATALOG
    env.globals["now_year"] = lambda: datetime.now().year
    env.globals["static_url"] = static_assets.assets().url  # files hashed at start-up
    env.auto_reload = False  # compiled once per process: no stat() of every template per render
    env.trim_blocks = True
    env.lstrip_blocks = True


def charge_text(invoice: Any) -> str:
    """What an invoice's charge is called, in the reader's language: the catalog's text for a
    charge of the catalog (domain/charges.py), else its description as staff typed it."""
    charge = charges.find(getattr(invoice, "charge_type", None))
    return i18n.gettext(charge.text) if charge else str(invoice.description)


def field_attrs(errors: dict[str, str], name: str) -> dict[str, Any]:
    """aria attributes for a field with or without an error (used via a macro)."""
    if name in errors:
        return {"aria-invalid": "true", "aria-describedby": f"{name}-error"}
    return {}
