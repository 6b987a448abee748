"""An htmx request renders only its fragment (issue 21 item 2): Get Summary, search as you type
and the ledger's Older/Newest pages answer the part they swap in, without the page around it
(no layout, no navigation, no client header); the same address without HX-Request answers the
whole page, for a browser without JavaScript."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import sign_in_staff
from tests.integration.test_query_counts import _james  # James Carter and his first vehicle

HX = {"HX-Request": "true"}
PAGE_ONLY = ("<html", "<head", "<nav")


def fragment_only(text: str, root_id: str) -> None:
    lowered = text.lower()
    assert not any(tag in lowered for tag in PAGE_ONLY), text[:300]
    assert f'id="{root_id}"' in text, text[:300]


def whole_page(text: str) -> None:
    assert "<html" in text.lower(), text[:300]


async def test_htmx_requests_get_their_fragment_and_plain_ones_the_page(
    client: AsyncTestClient[Any], app: Litestar
) -> None:
    await sign_in_staff(client)
    cid, vid = await _james(app.state.sessionmaker)
    asked = {
        # Get Summary swaps #send-link
        f"/plus/clients/{cid}/send-link?vehicle_id={vid}&days=30": "send-link",
        # search as you type swaps #search-results
        "/plus?q=carter": "search-results",
    }
    for url, root in asked.items():
        fragment = await client.get(url, headers=HX)
        assert fragment.status_code == 200, (url, fragment.text[:300])
        fragment_only(fragment.text, root)
        assert "HX-Request" in fragment.headers.get("vary", "")
        page = await client.get(url)
        assert page.status_code == 200, url
        whole_page(page.text)
    # the ledger's Older/Newest links aim htmx at #ledger
    history = f"/plus/clients/{cid}/history"
    ledger = await client.get(history, headers=HX | {"HX-Target": "ledger"})
    assert ledger.status_code == 200
    fragment_only(ledger.text, "ledger")
    whole_page((await client.get(history)).text)
