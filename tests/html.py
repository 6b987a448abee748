"""Parse HTML responses and find things by selector, so tests assert on elements, not bytes."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Tag


class Page:
    def __init__(self, html: str) -> None:
        self.soup = BeautifulSoup(html, "html.parser")

    def one(self, selector: str) -> Tag:
        found = self.soup.select(selector)
        assert len(found) == 1, f"expected one {selector!r}, found {len(found)}"
        return found[0]

    def all(self, selector: str) -> list[Tag]:
        return list(self.soup.select(selector))

    def has(self, selector: str) -> bool:
        return bool(self.soup.select(selector))

    def text(self, selector: str = "body") -> str:
        found = self.soup.select(selector) or ([self.soup] if selector == "body" else [])
        assert found, f"nothing matches {selector!r}"
        return squash(" ".join(el.get_text(" ") for el in found))

    def csrf(self) -> str:
        field = self.soup.select_one('input[name="_csrf_token"]')
        if field is not None:
            return str(field["value"])
        body = self.soup.select_one("body[hx-headers]")
        assert body is not None, "no CSRF token on the page"
        match = re.search(r'"x-csrftoken":\s*"([^"]+)"', str(body["hx-headers"]))
        assert match
        return match.group(1)


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def parse(html: str) -> Page:
    return Page(html)
