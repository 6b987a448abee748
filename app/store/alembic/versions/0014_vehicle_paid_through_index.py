"""an index on vehicle.paid_through: the daily reminder run finds the vehicles whose paid-through
date is N days away without reading every vehicle

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 04:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_vehicle_paid_through", "vehicle", ["paid_through"])


def downgrade() -> None:
    op.drop_index("ix_vehicle_paid_through", table_name="vehicle")
