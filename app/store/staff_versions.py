"""Each staff member's version, in the shared "sessions" store: a token changed whenever what a
signed-in session holds of them (role, name, whether they may sign in at all) may be wrong. A
session keeps the staff member it signed in and the version it saw; the session and the
version are read in one round trip (web/sessions.py), and a session whose version moved reads
the staff row again (web/deps.provide_staff): disabled, they are signed out; a new role, a new
session id. A staff member never changed has no key (the version is "")."""

from __future__ import annotations

import secrets

from litestar.stores.base import Store
from litestar.stores.file import FileStore

KEY_PREFIX = "staff-version:"


def key(staff_id: int) -> str:
    return f"{KEY_PREFIX}{staff_id}"


async def bump(store: Store, staff_id: int) -> str:
    """A new version: every session of `staff_id` reads the staff row again at its next request."""
    version = secrets.token_hex(8)
    try:
        await store.set(key(staff_id), version)
    except FileNotFoundError:  # a file store whose directory no session made yet
        if not isinstance(store, FileStore):
            raise
        await store.path.mkdir(parents=True, exist_ok=True)
        await store.set(key(staff_id), version)
    return version


async def current(store: Store, staff_id: int) -> str:
    found = await store.get(key(staff_id))
    return found.decode() if found is not None else ""
