"""client search served by an index: pg_trgm on PostgreSQL, an FTS5 trigram table on SQLite

PostgreSQL: GIN trigram indexes serve `LIKE '%x%'` on client.search_name and
client.phone_digits (an account number's start is a range on its unique index). SQLite: client_search is an FTS5 table over the same two columns
(external content: it stores only the index, the text stays in client), kept in step by triggers
and filled from the clients already there."""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

# created 2026-11-26 09:00:00
revision: str = "0007"
down_revision: str | None = "0006"

POSTGRES_UP = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_client_search_name_trgm ON client USING gin (search_name gin_trgm_ops)",
    "CREATE INDEX ix_client_phone_digits_trgm ON client USING gin (phone_digits gin_trgm_ops)",
)
POSTGRES_DOWN = (
    "DROP INDEX ix_client_phone_digits_trgm",
    "DROP INDEX ix_client_search_name_trgm",
)

_FORGET = (
    "INSERT INTO client_search(client_search, rowid, search_name, phone_digits) "
    "VALUES ('delete', old.id, old.search_name, old.phone_digits);"
)
_INDEX = (
    "INSERT INTO client_search(rowid, search_name, phone_digits) "
    "VALUES (new.id, new.search_name, new.phone_digits);"
)
SQLITE_UP = (
    "CREATE VIRTUAL TABLE client_search USING fts5(search_name, phone_digits, "
    "content='client', content_rowid='id', tokenize='trigram')",
    f"CREATE TRIGGER client_search_insert AFTER INSERT ON client BEGIN {_INDEX} END",
    f"CREATE TRIGGER client_search_delete AFTER DELETE ON client BEGIN {_FORGET} END",
    # Only when a searched column is set: the frequent updates (payment_in_flight) skip it.
    "CREATE TRIGGER client_search_update AFTER UPDATE OF search_name, phone_digits ON client "
    f"BEGIN {_FORGET} {_INDEX} END",
    "INSERT INTO client_search(client_search) VALUES ('rebuild')",
)
SQLITE_DOWN = (
    "DROP TRIGGER client_search_update",
    "DROP TRIGGER client_search_delete",
    "DROP TRIGGER client_search_insert",
    "DROP TABLE client_search",
)


def _run(postgres: Sequence[str], sqlite: Sequence[str]) -> None:
    for statement in postgres if op.get_bind().dialect.name == "postgresql" else sqlite:
        op.execute(statement)


def upgrade() -> None:
    _run(POSTGRES_UP, SQLITE_UP)


def downgrade() -> None:
    _run(POSTGRES_DOWN, SQLITE_DOWN)
