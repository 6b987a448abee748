"""one payment in flight per client

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.add_column(sa.Column("payment_in_flight", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("payment_in_flight_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.drop_column("payment_in_flight_at")
        batch.drop_column("payment_in_flight")
