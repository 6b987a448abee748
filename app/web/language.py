"""Which language a page is written in: the English/Español switch, its cookie, Accept-Language.

`?lang=es|en` (the visible switch) is an explicit choice and is kept in the `mp_lang` cookie;
else the cookie (explicit too); else Accept-Language. Pages that know their client then call
`i18n.prefer(client.language)`, which an explicit choice still beats. Staff pages, the dev
tools, webhooks and the sandbox are always English.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app import i18n

ENGLISH_ONLY = ("/plus", "/dev", "/webhooks", "/sandbox")
COOKIE_MAX_AGE = 365 * 24 * 3600
# Pages that change with the reader's language say so to caches.
VARIES = ("/pay", "/account")


def _english_only(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in ENGLISH_ONLY)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _cookie(scope: Scope) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed Cookie header: as if there were none
        return None
    morsel = jar.get(i18n.COOKIE)
    return morsel.value if morsel else None


CHOSEN = "language_chosen"  # scope state: this middleware ran for the request


def choose_unless_chosen(scope: Scope) -> None:
    """For a response the router answers before any middleware runs (an unknown path: 404/405),
    pick the language as the middleware would have."""
    if not scope.get("state", {}).get(CHOSEN):
        lang, explicit, _ = pick(scope)
        i18n.choose(lang, explicit=explicit)


def pick(scope: Scope) -> tuple[i18n.Lang, bool, i18n.Lang | None]:
    """(language, explicit, language to remember in the cookie) for one request."""
    path = scope.get("path", "")
    if _english_only(path):
        return i18n.DEFAULT, True, None
    query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
    switched = i18n.parse((query.get("lang") or [""])[0])
    if switched is not None:
        return switched, True, switched
    kept = i18n.parse(_cookie(scope))
    if kept is not None:
        return kept, True, None
    return i18n.negotiate(_header(scope, b"accept-language")), False, None


def set_cookie_header(lang: i18n.Lang, secure: bool) -> str:
    cookie = f"{i18n.COOKIE}={lang}; Max-Age={COOKIE_MAX_AGE}; Path=/; SameSite=Lax; HttpOnly"
    return cookie + ("; Secure" if secure else "")


class LanguageMiddleware:
    """Chooses the request's language before anything renders, and keeps the switch's choice."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lang, explicit, remember = pick(scope)
        scope.setdefault("state", {})[CHOSEN] = True
        path = scope.get("path", "")
        varies = path.startswith(VARIES) or path == "/"
        secure = scope.get("scheme") == "https"

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                if remember is not None:
                    headers.add("set-cookie", set_cookie_header(remember, secure))
                if varies:
                    vary = [v.strip() for v in (headers.get("vary") or "").split(",") if v.strip()]
                    for name in ("Accept-Language", "Cookie"):
                        if name.lower() not in (v.lower() for v in vary):
                            vary.append(name)
                    headers["vary"] = ", ".join(vary)
            await send(message)

        i18n.choose(lang, explicit=explicit)
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            i18n.choose(i18n.DEFAULT)
