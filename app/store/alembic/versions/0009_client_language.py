"""each client's language (en or es): texts go out in it, their pages open in it"""

from __future__ import annotations

import sqlalchemy as sa

from app.store.migration_steps import added_columns

# created 2026-11-26 01:30:00
revision: str = "0009"
down_revision: str | None = "0008"

upgrade, downgrade = added_columns(
    "client", sa.Column("language", sa.String(5), nullable=False, server_default="en")
)
