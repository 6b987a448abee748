"""A view of a row: a frozen dataclass filled from a database row's same-named attributes."""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

View = TypeVar("View", bound="DataclassInstance")


def view_of(cls: type[View], row: object, **given: Any) -> View:
    """`cls` with each field taken from `given`, else from `row`'s attribute of the same name,
    else (the row has none) left at the field's default."""
    values = dict(given)
    for f in fields(cls):
        if f.name in values:
            continue
        if hasattr(row, f.name) or (f.default is MISSING and f.default_factory is MISSING):
            values[f.name] = getattr(row, f.name)
    return cls(**values)
