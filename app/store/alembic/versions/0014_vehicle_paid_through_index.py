"""an index on vehicle.paid_through: the daily reminder run finds the vehicles whose paid-through
date is N days away without reading every vehicle"""

from __future__ import annotations

from app.store.migration_steps import created_indexes

# created 2026-11-26 04:15:00
revision: str = "0014"
down_revision: str | None = "0013"

upgrade, downgrade = created_indexes(("ix_vehicle_paid_through", "vehicle", ["paid_through"]))
