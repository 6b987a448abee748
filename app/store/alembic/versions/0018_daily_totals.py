"""the Reports page's daily totals (issue 21 item 4): money per local day, location, staff member
and channel, kept with every ledger write (store/daily_totals.py), filled here from the ledger

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 00:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = ("payments", "refunds", "declines", "disputes", "lost")
_CENTS = ("collected_cents", "refunded_cents", "declined_cents", "disputed_cents", "lost_cents")


def upgrade() -> None:
    op.create_table(
        "dailytotal",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("location_id", sa.Integer(), sa.ForeignKey("location.id"), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),  # 0: no staff member
        sa.Column("channel", sa.String(length=24), nullable=False),
        *(sa.Column(n, sa.Integer(), nullable=False, server_default="0") for n in _COUNTS),
        *(sa.Column(n, sa.BigInteger(), nullable=False, server_default="0") for n in _CENTS),
        sa.PrimaryKeyConstraint("day", "location_id", "staff_id", "channel"),
    )
    # The ledger's history, summed the way the Reports page summed it until now (the app's own
    # fresh aggregate: a later migration that changes the table rebuilds after itself).
    from app.store.daily_totals import rebuild_on

    rebuild_on(op.get_bind())


def downgrade() -> None:
    op.drop_table("dailytotal")
