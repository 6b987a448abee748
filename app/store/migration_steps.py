"""The two steps most migrations in store/alembic/versions take, written once, each with its
undoing: add columns to a table (batch mode, so SQLite can too), and create indexes. A version
file names what it changes; `upgrade, downgrade = added_columns(...)` gives alembic both.

Kept out of the versions folder: alembic reads every module there as a revision."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

Step = Callable[[], None]
# (name, table, columns), as in app/store/models.py's __table_args__
Index = tuple[str, str, list[str]]


def added_columns(table: str, *columns: sa.Column[Any]) -> tuple[Step, Step]:
    """Add `columns` to `table`; undone by dropping them, last first."""

    def upgrade() -> None:
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.add_column(column._copy())  # a Column joins one table: a fresh one each run

    def downgrade() -> None:
        with op.batch_alter_table(table) as batch:
            for column in reversed(columns):
                batch.drop_column(column.name)

    return upgrade, downgrade


def created_indexes(*indexes: Index) -> tuple[Step, Step]:
    """Create `indexes`; undone by dropping them, last first."""

    def upgrade() -> None:
        for name, table, columns in indexes:
            op.create_index(name, table, columns)

    def downgrade() -> None:
        for name, table, _ in reversed(indexes):
            op.drop_index(name, table_name=table)

    return upgrade, downgrade
