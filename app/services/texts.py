"""Text-message bodies, rendered from templates/sms/*.txt with the same money filter as pages."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from app.formatting import money

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "sms"


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(  # noqa: S701 - plain text for SMS, never HTML
        loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, keep_trailing_newline=False
    )
    env.filters["money"] = money
    return env


def render_text(name: str, **context: Any) -> str:
    return _env().get_template(f"{name}.txt").render(**context).strip()
