"""The migrations written with app/store/migration_steps.py (added columns, created indexes)
build and take back the same schema on SQLite and PostgreSQL: undone and run again, the
database has exactly the tables, columns and indexes it had, and each step's column or index
is there at head and gone below its revision."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from app.store.db import make_engine
from app.store.migrate import alembic_config

pytestmark = pytest.mark.parametrize("empty_db_url", ["sqlite", "postgres"], indirect=True)

# (revision, table, column or index) made by migration_steps: added_columns / created_indexes
COLUMNS = [
    ("0002", "client", "payment_in_flight"),
    ("0003", "smsmessage", "sealed_secret"),
    ("0009", "client", "language"),
    ("0010", "cardonfile", "fingerprint"),
    ("0011", "paymentlink", "renewed_by_link_id"),
    ("0015", "payment", "card_wallet"),
]
INDEXES = [
    ("0006", "cardonfile", "ix_cardonfile_processor_ref"),
    ("0008", "refund", "ix_refund_client_id"),
    ("0013", "invoice", "ix_invoice_status_due"),
    ("0014", "vehicle", "ix_vehicle_paid_through"),
]
# SQLite goes no lower: 0007's downgrade drops triggers a later batch migration already dropped
LOWEST = {"sqlite": "0009", "postgresql": "base"}


def _schema(conn: Connection) -> dict[str, Any]:
    seen = inspect(conn)
    return {
        table: (
            sorted((c["name"], str(c["type"]), c["nullable"]) for c in seen.get_columns(table)),
            sorted((i["name"] or "", tuple(i["column_names"])) for i in seen.get_indexes(table)),
        )
        for table in seen.get_table_names()
        if table != "alembic_version"
    }


async def _read(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_schema)
    finally:
        await engine.dispose()


async def test_undone_and_run_again_the_schema_is_the_same(empty_db_url: str) -> None:
    at_head = await _read(empty_db_url)
    for _, table, column in COLUMNS:
        assert column in {c for c, _, _ in at_head[table][0]}
    for _, table, index in INDEXES:
        assert index in {i for i, _ in at_head[table][1]}
    cfg = alembic_config(empty_db_url)
    dialect = "sqlite" if empty_db_url.startswith("sqlite") else "postgresql"
    try:
        await asyncio.to_thread(command.downgrade, cfg, "0013")
        below = await _read(empty_db_url)
        assert "ix_vehicle_paid_through" not in {i for i, _ in below["vehicle"][1]}
        assert "card_wallet" not in {c for c, _, _ in below["payment"][0]}
        await asyncio.to_thread(command.downgrade, cfg, LOWEST[dialect])
    finally:
        await asyncio.to_thread(command.upgrade, cfg, "head")
    assert await _read(empty_db_url) == at_head
