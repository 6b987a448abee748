"""link tokens wait sealed in the SMS outbox, never in the clear

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("smsmessage") as batch:
        batch.add_column(sa.Column("sealed_secret", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("smsmessage") as batch:
        batch.drop_column("sealed_secret")
