"""Jinja setup: the only place money, dates and phone numbers become text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment
from litestar.plugins.jinja import JinjaTemplateEngine

from app import i18n
from app.domain import phone
from app.formatting import day, local_datetime, local_time, money
from app.web import static_assets


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
    env.globals["now_year"] = lambda: datetime.now().year
    env.globals["static_url"] = static_assets.assets().url  # files hashed at start-up
    env.auto_reload = False  # compiled once per process: no stat() of every template per render
    env.trim_blocks = True
    env.lstrip_blocks = True


def field_attrs(errors: dict[str, str], name: str) -> dict[str, Any]:
    """aria attributes for a field with or without an error (used via a macro)."""
    if name in errors:
        return {"aria-invalid": "true", "aria-describedby": f"{name}-error"}
    return {}
