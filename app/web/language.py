"""Which language a page is written in: the English/Español switch, its cookie, Accept-Language.

`?lang=es|en` (the visible switch) is an explicit choice and is kept in the `mp_lang` cookie;
else the cookie (explicit too); else Accept-Language. Pages that know their client then call
`i18n.prefer(client.language)`, which an explicit choice still beats. Staff pages, the dev
tools, webhooks and the sandbox are always English.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from app import i18n

ENGLISH_ONLY = ("/plus", "/dev", "/webhooks", "/sandbox")
COOKIE_MAX_AGE = 365 * 24 * 3600
# Pages that change with the reader's language say so to caches.
VARIES = ("/pay", "/account")


_ENGLISH_TREES = tuple(p + "/" for p in ENGLISH_ONLY)


def _english_only(path: str) -> bool:
    return path in ENGLISH_ONLY or path.startswith(_ENGLISH_TREES)


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


@dataclass(frozen=True, slots=True)
class Choice:
    """One request's language, chosen before anything renders (web/security.RequestMiddleware
    calls `choose` first thing), and what its answer must say about it."""

    remember: i18n.Lang | None  # the switch's choice, kept in the cookie
    varies: bool  # a page that changes with the reader's language says so to caches
    secure: bool

    def headers(self, message: Message) -> None:
        """The response start's Set-Cookie (the switch) and Vary (pages that vary)."""
        if self.remember is None and not self.varies:
            return
        headers = MutableScopeHeaders.from_message(message)
        if self.remember is not None:
            headers.add("set-cookie", set_cookie_header(self.remember, self.secure))
        if self.varies:
            vary = [v.strip() for v in (headers.get("vary") or "").split(",") if v.strip()]
            for name in ("Accept-Language", "Cookie"):
                if name.lower() not in (v.lower() for v in vary):
                    vary.append(name)
            headers["vary"] = ", ".join(vary)


def choose(scope: Scope) -> Choice:
    """Pick the request's language (i18n.choose; the caller goes back to the default after)."""
    lang, explicit, remember = pick(scope)
    scope.setdefault("state", {})[CHOSEN] = True
    path = scope.get("path", "")
    i18n.choose(lang, explicit=explicit)
    return Choice(remember, path.startswith(VARIES) or path == "/", scope.get("scheme") == "https")
