"""disputes on payments (chargebacks and inquiries), as the processor's events describe them"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# created 2026-12-05 18:45:00
revision: str = "0016"
down_revision: str | None = "0015"


def upgrade() -> None:
    op.create_table(
        "dispute",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("processor_ref", sa.String(length=100), nullable=False),
        sa.Column("payment_id", sa.Integer(), sa.ForeignKey("payment.id"), nullable=False),
        sa.Column("client_id", sa.Integer(), sa.ForeignKey("client.id"), nullable=False),
        sa.Column("charge_ref", sa.String(length=100), nullable=True),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("evidence_due_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refund_id", sa.Integer(), sa.ForeignKey("refund.id"), nullable=True),
        sa.UniqueConstraint("processor_ref"),
    )
    op.create_index("ix_dispute_payment_id", "dispute", ["payment_id"])
    op.create_index("ix_dispute_client_id", "dispute", ["client_id"])
    # disputes needing a response, soonest evidence due first (the supervisors' list)
    op.create_index("ix_dispute_status_due", "dispute", ["status", "evidence_due_by"])
    # disputes opened in a range (Reports)
    op.create_index("ix_dispute_opened_at", "dispute", ["opened_at"])


def downgrade() -> None:
    for name in (
        "ix_dispute_opened_at",
        "ix_dispute_status_due",
        "ix_dispute_client_id",
        "ix_dispute_payment_id",
    ):
        op.drop_index(name, table_name="dispute")
    op.drop_table("dispute")
