"""cards on file keep the processor's card fingerprint: the same card saved twice is kept once"""

from __future__ import annotations

import sqlalchemy as sa

from app.store.migration_steps import added_columns

# created 2026-11-26 02:00:00
revision: str = "0010"
down_revision: str | None = "0009"

upgrade, downgrade = added_columns(
    "cardonfile", sa.Column("fingerprint", sa.String(64), nullable=True)
)
