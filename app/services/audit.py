"""Audit events: who did what, when, to which client. Added to the caller's transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.store.models import AuditEvent


def record(
    session: AsyncSession,
    *,
    at: datetime,
    actor_type: str,
    actor_id: int | None,
    action: str,
    client_id: int | None = None,
    **detail: Any,
) -> AuditEvent:
    event = AuditEvent(
        at=at,
        actor_type=actor_type,
        actor_id=actor_id,
        client_id=client_id,
        action=action,
        detail=json.dumps(detail, sort_keys=True, default=str),
    )
    session.add(event)
    return event
