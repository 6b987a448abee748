"""link tokens wait sealed in the SMS outbox, never in the clear"""

from __future__ import annotations

import sqlalchemy as sa

from app.store.migration_steps import added_columns

# created 2026-11-25 06:30:00
revision: str = "0003"
down_revision: str | None = "0002"

upgrade, downgrade = added_columns(
    "smsmessage", sa.Column("sealed_secret", sa.Text(), nullable=True)
)
