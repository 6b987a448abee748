"""payment links remember the new link the payer asked for from them once they expired

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("paymentlink") as batch:
        batch.add_column(sa.Column("renewed_by_link_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("paymentlink") as batch:
        batch.drop_column("renewed_by_link_id")
