"""reminders sent once per vehicle-period; payment links say who asked for them"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# created 2026-11-26 03:45:00
revision: str = "0012"
down_revision: str | None = "0011"


def upgrade() -> None:
    with op.batch_alter_table("paymentlink") as batch:
        # staff (Send Secure Payment Link) | renewal (the payer's "Text me a new link")
        # | reply (the client replied PAY to a reminder)
        batch.add_column(
            sa.Column("origin", sa.String(length=12), nullable=False, server_default="staff")
        )
    op.execute("UPDATE paymentlink SET origin = 'renewal' WHERE sent_by_staff_id IS NULL")
    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_id", sa.Integer(), sa.ForeignKey("client.id"), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), sa.ForeignKey("vehicle.id"), nullable=False),
        # the paid-through date the reminder warns about: one reminder per vehicle-period
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("sms_id", sa.Integer(), sa.ForeignKey("smsmessage.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("vehicle_id", "period_end", name="uq_reminder_vehicle_period"),
    )
    op.create_index("ix_reminder_client_id", "reminder", ["client_id"])


def downgrade() -> None:
    op.drop_index("ix_reminder_client_id", table_name="reminder")
    op.drop_table("reminder")
    with op.batch_alter_table("paymentlink") as batch:
        batch.drop_column("origin")
