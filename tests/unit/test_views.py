"""view_of: a frozen view filled from a row's same-named attributes."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from app.domain.views import view_of


@dataclass(frozen=True)
class _View:
    id: int
    name: str
    note: str | None = None
    seen: bool = False


def test_fields_come_from_the_row_given_ones_first_and_defaults_where_the_row_has_none() -> None:
    row = SimpleNamespace(id=None, name="Ann", note="kept", other="ignored")
    assert view_of(_View, row, id=7) == _View(id=7, name="Ann", note="kept", seen=False)


def test_a_required_field_the_row_lacks_is_an_error() -> None:
    with pytest.raises(AttributeError):
        view_of(_View, SimpleNamespace(id=1))
