"""invoices keep the catalog key of a staff charge (issue 22 item 5), so a client's page says it
in the client's language"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# created 2026-12-05 19:30:00
revision: str = "0017"
down_revision: str | None = "0016"

# domain/charges.py's catalog as it was when this ran: charges typed with exactly its English
# text (the demo's "Missed appointment fee") are that charge.
_CATALOG = {
    "missed_appointment": "Missed appointment fee",
    "calibration": "Calibration fee",
    "lockout_reset": "Lockout reset fee",
    "device_removal": "Device removal fee",
    "replacement_device": "Replacement device fee",
    "installation": "Installation fee",
}


def upgrade() -> None:
    with op.batch_alter_table("invoice") as batch:
        batch.add_column(sa.Column("charge_type", sa.String(length=40), nullable=True))
    invoice = sa.table(
        "invoice",
        sa.column("kind", sa.String),
        sa.column("description", sa.String),
        sa.column("charge_type", sa.String),
    )
    for key, text in _CATALOG.items():
        op.execute(
            invoice.update()
            .where(invoice.c.kind == "charge", invoice.c.description == text)
            .values(charge_type=key)
        )


def downgrade() -> None:
    with op.batch_alter_table("invoice") as batch:
        batch.drop_column("charge_type")
