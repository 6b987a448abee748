"""sign-in throttling: one row per key (account or address) with growing delays, replacing one
row per failed attempt and its 15-minute lock"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# created 2026-11-26 10:00:00
revision: str = "0005"
down_revision: str | None = "0004"


def upgrade() -> None:
    # The old rows are only failed attempts of the last 15 minutes: nothing worth carrying over.
    with op.batch_alter_table("loginattempt") as batch:
        batch.drop_index("ix_loginattempt_key_at")
    op.drop_table("loginattempt")
    op.create_table(
        "loginattempt",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wait_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_loginattempt_expires_at", "loginattempt", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_loginattempt_expires_at", "loginattempt")
    op.drop_table("loginattempt")
    op.create_table(
        "loginattempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("loginattempt") as batch:
        batch.create_index("ix_loginattempt_key_at", ["key", "at"], unique=False)
