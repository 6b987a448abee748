"""cards on file are looked up by their processor reference (ownership checks)"""

from __future__ import annotations

from app.store.migration_steps import created_indexes

# created 2026-11-25 23:40:00
revision: str = "0006"
down_revision: str | None = "0005"

upgrade, downgrade = created_indexes(
    ("ix_cardonfile_processor_ref", "cardonfile", ["processor_ref"])
)
