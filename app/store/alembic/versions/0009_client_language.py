"""each client's language (en or es): texts go out in it, their pages open in it

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.add_column(sa.Column("language", sa.String(5), nullable=False, server_default="en"))


def downgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.drop_column("language")
