"""Server-side sessions on the shared "sessions" store (Redis, or files on one machine).

The cookie holds only a random session id; the data stays in the store, so signing out (or a
timeout) deletes it for every instance at once and a copied cookie is worth nothing afterwards.
On top of Litestar's server-side backend:
- `rotate(request)` gives the session a new id (sign-in, role change, timeout), deleting the
  old one;
- a cookie that names no stored session is never adopted: a new session gets a fresh id;
- an empty session is not stored (anonymous pages and webhooks write nothing);
- an unchanged session is not written again;
- a request that started before the session was ended elsewhere (signed out in another tab or
  on another instance) does not bring it back when it answers;
- a staff session is read with its staff member's version (store/staff_versions.py) in the
  same round trip: one Lua call on Redis (`staff_version(request)` says what it was).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.stores.file import FileStore
from litestar.stores.redis import RedisStore
from litestar.types import Empty
from litestar.utils.dataclass import extract_dataclass_items

if TYPE_CHECKING:
    from litestar import Request
    from litestar.connection import ASGIConnection
    from litestar.stores.base import Store
    from litestar.types import Message, Scope, ScopeSession

COOKIE = "mp_session"
SIGNED_IN_KEYS = ("staff_id", "client_id")  # what a session ended elsewhere must not regain
_NOTES = "monitorpay.session"  # what this request loaded, and whether to rotate


def _notes(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})  # type: ignore[typeddict-item]
    notes: dict[str, Any] = state.setdefault(_NOTES, {})
    return notes


# The session and, when it is a staff member's, their version: one round trip. ARGV[1] is the
# version keys' full prefix; '' stands for a missing key.
_LOAD = """
local s = redis.call('GET', KEYS[1])
if not s then return {'', ''} end
local ok, d = pcall(cjson.decode, s)
local v = false
if ok and type(d) == 'table' and type(d['staff_id']) == 'number' then
  v = redis.call('GET', ARGV[1] .. string.format('%d', d['staff_id']))
end
return {s, v or ''}
"""


_scripts: WeakKeyDictionary[Any, Any] = WeakKeyDictionary()  # per Redis client: its _LOAD


def staff_version(request: Request[Any, Any, Any]) -> str:
    """The signed-in staff member's version as read with this request's session ("" if none)."""
    return str(_notes(request.scope).get("staff_version", ""))


def rotate(request: Request[Any, Any, Any]) -> None:
    """Answer with a new session id for the same data; the old id is deleted from the store."""
    _notes(request.scope)["rotate"] = True


def start(request: Request[Any, Any, Any], data: dict[str, Any]) -> None:
    """A new session (sign-in): nothing of the old one is kept, and it gets a new id."""
    request.set_session(dict(data))
    rotate(request)


async def store_set(store: Store, key: str, value: bytes | str, expires_in: int | None) -> None:
    """`store.set`, making a file store's directory first if it is missing: Litestar's
    FileStore.with_namespace drops `create_directories`, and its `set` makes only the last
    directory of the path (so a fresh KV_PATH such as data/kv would fail on first use)."""
    try:
        await store.set(key, value, expires_in=expires_in)
    except FileNotFoundError:
        if not isinstance(store, FileStore):
            raise
        await store.path.mkdir(parents=True, exist_ok=True)
        await store.set(key, value, expires_in=expires_in)


class SessionBackend(ServerSideSessionBackend):
    async def set(self, session_id: str, data: bytes, store: Store) -> None:
        await store_set(store, session_id, data, expires_in=int(self.config.max_age))

    async def load_from_connection(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> dict[str, Any]:
        raw: bytes | None = None
        version: str | None = ""
        session_id = connection.cookies.get(self.config.key)
        if session_id and session_id != "null":
            store = self.config.get_store_from_app(connection.scope["app"])
            raw, version = await self._load(store, session_id)
        notes = _notes(connection.scope)
        notes["loaded"] = raw
        data = self.deserialize_data(raw) if raw is not None else {}
        if version is None:  # not read with the session (a file store): read it now
            staff_id = data.get("staff_id")
            found = await store.get(self._version_key(staff_id)) if staff_id else None
            version = found.decode() if found is not None else ""
        notes["staff_version"] = version
        return data

    def _version_key(self, staff_id: object) -> str:
        prefix: str = getattr(self.config, "staff_version_prefix", "")
        return f"{prefix}{staff_id}"

    async def _load(self, store: Store, session_id: str) -> tuple[bytes | None, str | None]:
        """The session's bytes and, on Redis, its staff member's version (None: not read)."""
        if not isinstance(store, RedisStore) or self.config.renew_on_access:
            return await self.get(session_id, store=store), None
        script = _scripts.get(store._redis)
        if script is None:
            script = _scripts[store._redis] = store._redis.register_script(_LOAD)
        prefix = store._make_key(self._version_key(""))
        raw, version = await script(keys=[store._make_key(session_id)], args=[prefix])
        return (raw or None), (version.decode() if isinstance(version, bytes) else str(version))

    def _cookie(self, headers: MutableScopeHeaders, value: str, **extra: Any) -> None:
        params = dict(
            extract_dataclass_items(self.config, exclude_none=True, include=Cookie.__dict__.keys())
        )
        cookie = Cookie(value=value, key=self.config.key, **(params | extra))
        headers.add("Set-Cookie", cookie.to_header(header=""))

    async def store_in_message(
        self,
        scope_session: ScopeSession,
        message: Message,
        connection: ASGIConnection[Any, Any, Any, Any],
    ) -> None:
        scope = connection.scope
        notes = _notes(scope)
        store = self.config.get_store_from_app(scope["app"])
        headers = MutableScopeHeaders.from_message(message)
        cookie_id = connection.cookies.get(self.config.key)
        if cookie_id == "null":
            cookie_id = None
        loaded: bytes | None = notes.get("loaded")

        if scope_session is Empty or not scope_session:
            if cookie_id:  # signed out, or nothing left to keep: gone from store and browser
                await self.delete(cookie_id, store=store)
                self._cookie(headers, "null", max_age=0, expires=0)
            return

        data = self.serialize_data(scope_session, scope)
        # The id to keep: the browser's, if it named a stored session and no rotation is due.
        current = cookie_id if loaded is not None and not notes.get("rotate") else None
        if current and data == loaded:
            return
        if current and not await store.exists(current):
            # Ended while this request ran (signed out elsewhere): a sign-in stays ended;
            # anything else (a pay page's receipt) is kept under a new id.
            if isinstance(scope_session, dict) and any(k in scope_session for k in SIGNED_IN_KEYS):
                self._cookie(headers, "null", max_age=0, expires=0)
                return
            current = None
        if current is None:
            if cookie_id:
                await self.delete(cookie_id, store=store)
            current = self.generate_session_id()
        await self.set(current, data, store=store)
        self._cookie(headers, current)


@dataclass
class SessionConfig(ServerSideSessionConfig):
    _backend_class = SessionBackend  # type: ignore[assignment]
    staff_version_prefix: str = ""  # the key of a staff member's version, before their id
