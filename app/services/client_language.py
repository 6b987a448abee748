"""The language a client's texts and pages come in: set in My Account or by staff on PLUS."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app import i18n
from app.domain.errors import DomainError
from app.i18n import N_
from app.services import audit
from app.services.summary import NotFound
from app.store.models import Client


class UnknownLanguage(DomainError):
    message = N_("Choose English or Español.")


async def set_language(
    session: AsyncSession,
    *,
    client_id: int,
    language: str,
    actor_type: str,
    actor_id: int | None,
    now: datetime,
) -> i18n.Lang:
    """Store the client's language (audited when it changes) and commit."""
    lang = i18n.parse(language)
    if lang is None or language.strip().lower() != lang:
        raise UnknownLanguage()
    client = await session.get(Client, client_id)
    if client is None:
        raise NotFound(N_("That client was not found."))
    if client.language != lang:
        audit.client_language_set(
            session,
            at=now,
            by=(actor_type, actor_id),
            client_id=client_id,
            before=client.language,
            after=lang,
        )
        client.language = lang
        session.add(client)
        await session.commit()
    return lang
