"""one payment in flight per client"""

from __future__ import annotations

import sqlalchemy as sa

from app.store.migration_steps import added_columns

# created 2026-11-25 06:00:00
revision: str = "0002"
down_revision: str | None = "0001"

upgrade, downgrade = added_columns(
    "client",
    sa.Column("payment_in_flight", sa.Integer(), nullable=True),
    sa.Column("payment_in_flight_at", sa.DateTime(timezone=True), nullable=True),
)
