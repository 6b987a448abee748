"""PLUS Web's home: client search, as you type (htmx) or as a plain GET form."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromQuery

from app.store import search
from app.web.deps import Db, Staff, search_clients
from app.web.forms import text_errors
from app.web.plus import fragment_or_page


class SearchController(Controller):
    path = "/plus"

    @get("/", name="plus_home")
    async def home(
        self, request: Request[Any, Any, Any], staff: Staff, db: Db, q: FromQuery[str] = ""
    ) -> Response[Any]:
        errors = text_errors({"q": q})
        q = "" if errors else q.strip()[: search.MAX_QUERY]
        needle = search.needle(q)
        found = await search_clients(db, needle) if needle else search.Results([], False)
        return fragment_or_page(
            request,
            "plus/_search_results.html",
            "plus/home.html",
            {
                "staff": staff,
                "q": q,
                "searched": needle is not None,
                "rows": found.rows,
                "broad": found.broad,
                "limit": search.LIMIT,
                "candidates": search.CANDIDATES,
                "min_chars": search.MIN_CHARS,
                "errors": errors,
            },
            400 if errors else 200,
        )
