"""money core: payment outcomes (unknown, refunded), refunds, processed webhook events; the
account claim lasts until its payment is resolved (no time lease)"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# created 2026-11-25 22:30:00
revision: str = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    with op.batch_alter_table("payment") as batch:
        batch.alter_column(
            "status", existing_type=sa.String(length=10), type_=sa.String(length=20)
        )
        batch.add_column(
            sa.Column("refunded_cents", sa.Integer(), nullable=False, server_default="0")
        )
        batch.create_index("ix_payment_status_created", ["status", "created_at"], unique=False)
    with op.batch_alter_table("client") as batch:
        batch.drop_column("payment_in_flight_at")
    op.create_table(
        "refund",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("processor_ref", sa.String(length=100), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("failure_message", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["payment_id"], ["payment.id"]),
        sa.ForeignKeyConstraint(["client_id"], ["client.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staffuser.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_refund_payment_id", "refund", ["payment_id"])
    op.create_index("ix_refund_status", "refund", ["status"])
    op.create_table(
        "processedevent",
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )


def downgrade() -> None:
    op.drop_table("processedevent")
    op.drop_index("ix_refund_status", "refund")
    op.drop_index("ix_refund_payment_id", "refund")
    op.drop_table("refund")
    with op.batch_alter_table("client") as batch:
        batch.add_column(sa.Column("payment_in_flight_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("payment") as batch:
        batch.drop_index("ix_payment_status_created")
        batch.drop_column("refunded_cents")
        batch.alter_column(
            "status", existing_type=sa.String(length=20), type_=sa.String(length=10)
        )
