"""Static files under fingerprinted URLs (cached for a year, immutable), plain URLs with a short
cache, and compression: brotli or gzip as the browser accepts, nothing for a client that asks
for nothing; htmx fragments compressed like pages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.models import Client
from app.web.static_assets import IMMUTABLE, STATIC_DIR
from tests.conftest import sign_in_staff
from tests.html import parse
from tests.integration.test_pay import make_link
from tests.integration.test_security_headers import assert_secure

FINGERPRINTED = re.compile(r"^/static/([\w.-]+)\.[0-9a-f]{12}(\.\w+)$")


def static_urls(html: str) -> list[str]:
    page = parse(html)
    links = [t["href"] for t in page.all("link[rel=stylesheet]")]
    return [str(u) for u in links + [t["src"] for t in page.all("script[src]")]]


async def assert_served_immutable(client: AsyncTestClient[Any], url: str) -> None:
    match = FINGERPRINTED.match(url)
    assert match, url
    r = await client.get(url, headers={"accept-encoding": "br, gzip"})
    assert r.status_code == 200, url
    assert r.headers["cache-control"] == IMMUTABLE
    assert r.headers["content-encoding"] == "br"
    assert "set-cookie" not in r.headers  # a public, cacheable answer carries nobody's cookie
    assert r.content == (STATIC_DIR / (match.group(1) + match.group(2))).read_bytes()
    assert_secure(r)


async def test_pages_name_static_files_by_content_and_they_are_cached_for_a_year(
    client: AsyncTestClient[Any], app: Litestar
) -> None:
    r = await client.get("/plus/login")
    urls = static_urls(r.text)
    assert sorted(Path(u).suffix for u in urls) == [".css", ".js", ".js"]  # app.css, htmx, app.js
    pay_urls = static_urls((await client.get(f"/pay/{await make_link(app)}")).text)
    assert {FINGERPRINTED.sub(r"\1\2", u) for u in pay_urls} == {"app.css", "card.js", "pay.js"}
    for url in {*urls, *pay_urls}:
        await assert_served_immutable(client, url)


async def test_a_plain_name_answers_with_a_short_cache_and_revalidates(
    client: AsyncTestClient[Any],
) -> None:
    r = await client.get("/static/app.css")
    assert r.status_code == 200 and r.headers["content-type"] == "text/css; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=300"
    again = await client.get("/static/app.css", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    head = await client.head("/static/card.js", headers={"accept-encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == (STATIC_DIR / "card.js").stat().st_size


async def test_an_unknown_fingerprint_is_not_found(client: AsyncTestClient[Any]) -> None:
    good = static_urls((await client.get("/plus/login")).text)[0]
    for url in (
        re.sub(r"\.[0-9a-f]{12}\.", ".000000000000.", good),
        "/static/app.css.map",
        "/static/nope.js",
    ):
        r = await client.get(url)
        assert r.status_code == 404, url
        assert "immutable" not in r.headers.get("cache-control", "")
        assert_secure(r)


async def test_brotli_and_gzip_decode_to_the_same_page(client: AsyncTestClient[Any]) -> None:
    answers = {}
    for coding in ("br", "gzip"):
        r = await client.get("/plus/login", headers={"accept-encoding": coding})
        assert r.headers["content-encoding"] == coding
        assert "Accept-Encoding" in r.headers["vary"]
        answers[coding] = r
    br, gz = (parse(answers[c].text) for c in ("br", "gzip"))
    assert br.text("main") == gz.text("main") and br.csrf() == gz.csrf()
    assert answers["br"].text == answers["gzip"].text


async def test_a_coding_refused_with_q_0_is_not_used(client: AsyncTestClient[Any]) -> None:
    r = await client.get("/static/app.css", headers={"accept-encoding": "br;q=0, gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.content == (STATIC_DIR / "app.css").read_bytes()


async def test_a_client_that_accepts_no_coding_gets_identity(client: AsyncTestClient[Any]) -> None:
    client.headers.pop("accept-encoding", None)  # httpx asks for gzip and br by default
    page = await client.get("/plus/login")
    css = await client.get("/static/app.css")
    for r in (page, css):
        assert r.status_code == 200 and "content-encoding" not in r.headers
        assert int(r.headers["content-length"]) == len(r.content)
    assert parse(page.text).has("form#login, form")
    assert css.content == (STATIC_DIR / "app.css").read_bytes()


async def test_htmx_fragments_are_compressed_and_vary_on_both_headers(
    client: AsyncTestClient[Any], session: AsyncSession
) -> None:
    cid = (
        await session.execute(select(Client.id).where(Client.account_number == "100002"))
    ).scalar_one()
    await sign_in_staff(client)
    r = await client.get(
        f"/plus/clients/{cid}/send-link", headers={"HX-Request": "true", "accept-encoding": "br"}
    )
    assert r.status_code == 200 and len(r.content) > 1024
    assert r.headers["content-encoding"] == "br"
    assert {"HX-Request", "Accept-Encoding"} <= set(re.split(r",\s*", r.headers["vary"]))
    page = parse(r.text)
    assert page.has("#send-link") and not page.has("header")
