"""cards on file are looked up by their processor reference (ownership checks)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cardonfile_processor_ref", "cardonfile", ["processor_ref"])


def downgrade() -> None:
    op.drop_index("ix_cardonfile_processor_ref", "cardonfile")
