"""Languages: what a client reads comes in en-US or es-US; staff pages stay English.

One current locale per request (or per text being written), held in a context variable that
the Jinja templates, the SMS texts and app/formatting.py all read. The messages come from
Babel catalogs: `app/translations/<lang>/LC_MESSAGES/messages.po`, compiled to `.mo` by the
build (`make run`, `make test`; `python -m app.i18n` does it alone).

Choosing: an explicit choice (the English/Español switch, kept in a cookie) wins; then the
client's stored language where a page knows the client; then Accept-Language; else English.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any, Literal

from babel.support import NullTranslations, Translations

Lang = Literal["en", "es"]
LANGUAGES: tuple[Lang, ...] = ("en", "es")
DEFAULT: Lang = "en"
BABEL_LOCALE: dict[Lang, str] = {"en": "en_US", "es": "es_US"}
NAMES: dict[Lang, str] = {"en": "English", "es": "Español"}
COOKIE = "mp_lang"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"

_current: ContextVar[Lang] = ContextVar("lang", default=DEFAULT)
_explicit: ContextVar[bool] = ContextVar("lang_explicit", default=False)


def parse(value: str | None) -> Lang | None:
    """A supported language from a code such as "es", "es-US" or "ES_mx"; None otherwise."""
    code = (value or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else None  # type: ignore[return-value]


def negotiate(accept_language: str | None) -> Lang:
    """The best supported language of an Accept-Language header, by its q-values."""
    best: tuple[float, Lang] | None = None
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        lang = parse(tag)
        if lang is None:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or q > best[0]):
            best = (q - position * 1e-6, lang)  # equal q: the first listed wins
    return best[1] if best else DEFAULT


def current() -> Lang:
    return _current.get()


def html_lang() -> str:
    """The page's `<html lang>`: en-US or es-US."""
    return BABEL_LOCALE[_current.get()].replace("_", "-")


def babel_locale() -> str:
    return BABEL_LOCALE[_current.get()]


def choose(lang: Lang, *, explicit: bool = False) -> None:
    """Set this request's language (the middleware calls it; `explicit` for the switch)."""
    _current.set(lang)
    _explicit.set(explicit)


def prefer(stored: str | None) -> None:
    """A page that knows its client: the client's language, unless the reader chose one."""
    lang = parse(stored)
    if lang is not None and not _explicit.get():
        _current.set(lang)


@contextlib.contextmanager
def using(lang: str | None) -> Iterator[None]:
    """Write something (a text message) in `lang`, then return to the request's language."""
    token = _current.set(parse(lang) or DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)


@cache
def translations(lang: Lang) -> NullTranslations:
    if lang == DEFAULT:
        return NullTranslations()  # the source strings are English
    mo = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo"
    if not mo.exists():
        raise RuntimeError(f"{mo} is missing: run `make run` or `python -m app.i18n` to build it")
    with mo.open("rb") as fp:
        return Translations(fp)


def gettext(message: str, **variables: Any) -> str:
    text = translations(_current.get()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    text = translations(_current.get()).ngettext(singular, plural, n)
    return text % ({"num": n} | variables)


_ = gettext


def N_(message: str) -> str:  # noqa: N802 - the usual name of gettext's no-op marker
    """Mark a message for the catalog where it is defined (a constant, an error's message);
    it is translated where it is shown to a client (`Form.error`, `_()`)."""
    return message


def install(env: Any) -> None:
    """Jinja's i18n extension on `env`, translating into the current language at render time
    (Jinja does the %-formatting of {% trans %} blocks itself)."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(
        lambda message: translations(_current.get()).gettext(message),
        lambda singular, plural, n: translations(_current.get()).ngettext(singular, plural, n),
        newstyle=True,
    )
    env.globals["lang"] = html_lang
    env.globals["lang_code"] = current
    env.globals["languages"] = NAMES


def compile_catalogs() -> list[Path]:
    """messages.po → messages.mo for every language (what `make` runs)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    built = []
    for po in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        with po.open("rb") as fp:
            catalog = read_po(fp)
        mo = po.with_suffix(".mo")
        with mo.open("wb") as fp:
            write_mo(fp, catalog)
        built.append(mo)
    return built


if __name__ == "__main__":
    for path in compile_catalogs():
        print(f"compiled {path.relative_to(TRANSLATIONS.parent.parent)}")
