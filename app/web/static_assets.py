"""Static files under content-hashed names, read and compressed once per process.

`static_url("app.css")` (a template global) names a file by a hash of its bytes:
`/static/app.3f2a9c1b0d.css`. That URL always means the same bytes, so a browser keeps it for a
year without asking again, and a release that changes the file changes its URL. The plain name
(`/static/app.css`) still answers, with a short cache and an ETag. Brotli (at its best quality)
and gzip are computed here once, not per request: these responses skip the compression middleware.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import brotli
from litestar import Request, route
from litestar.enums import HttpMethod
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response.base import ASGIResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"  # a plain name: a stale copy lasts five minutes at most
PRECOMPRESSED = "precompressed"  # route opt that the compression middleware is told to skip
MEDIA_TYPES = {".js": "text/javascript"}  # RFC 9239; Python 3.11 still says application/


@dataclass(frozen=True)
class Asset:
    versioned_name: str
    media_type: str
    etag: str
    body: bytes
    encoded: dict[str, bytes] = field(default_factory=dict)  # coding -> body, if smaller


def read_asset(path: Path) -> Asset:
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:12]
    media_type = MEDIA_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "text/plain"
    if media_type.startswith("text/"):
        media_type += "; charset=utf-8"
    compressed = {
        "br": brotli.compress(body, quality=11),
        "gzip": gzip.compress(body, 9, mtime=0),
    }
    return Asset(
        versioned_name=f"{path.stem}.{digest}{path.suffix}",
        media_type=media_type,
        etag=f'"{digest}"',
        body=body,
        encoded={coding: data for coding, data in compressed.items() if len(data) < len(body)},
    )


@dataclass(frozen=True)
class StaticAssets:
    files: dict[str, Asset]  # both names of each file: plain and versioned

    def url(self, name: str) -> str:
        """The versioned URL of a file; a name that is not a file fails the page loudly."""
        return f"/static/{self.files[name].versioned_name}"


def load(directory: Path) -> StaticAssets:
    files: dict[str, Asset] = {}
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        asset = read_asset(path)
        files[path.name] = files[asset.versioned_name] = asset
    return StaticAssets(files)


@functools.cache
def assets() -> StaticAssets:
    return load(STATIC_DIR)


def accepted_codings(accept_encoding: str) -> set[str]:
    """The content codings a request accepts (RFC 9110 §12.5.3), without those given q=0."""
    accepted = set()
    for item in accept_encoding.lower().split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        q = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            if float(q) > 0:
                accepted.add(coding)
        except ValueError:
            continue
    return accepted


@route(
    "/static/{name:str}",
    http_method=[HttpMethod.GET, HttpMethod.HEAD],
    name="static",
    # No CSRF cookie: a Set-Cookie on a public, cacheable response could be handed to others.
    opt={PRECOMPRESSED: True, "exclude_from_csrf": True},
    sync_to_thread=False,
    include_in_schema=False,
)
def serve(request: Request[Any, Any, Any], name: FromPath[str]) -> ASGIResponse:
    asset = assets().files.get(name)
    if asset is None:
        raise NotFoundException()
    headers = {
        "cache-control": IMMUTABLE if name == asset.versioned_name else SHORT,
        "etag": asset.etag,
    }
    if asset.encoded:
        headers["vary"] = "Accept-Encoding"
    if request.headers.get("if-none-match") == asset.etag:
        return ASGIResponse(status_code=304, headers=headers)
    accepted = accepted_codings(request.headers.get("accept-encoding", ""))
    coding = next((c for c in ("br", "gzip") if c in accepted and c in asset.encoded), None)
    body = asset.encoded[coding] if coding else asset.body
    if coding:
        headers["content-encoding"] = coding
    headers["content-type"] = asset.media_type
    headers["content-length"] = str(len(body))
    head = request.method == HttpMethod.HEAD
    return ASGIResponse(body=b"" if head else body, headers=headers, is_head_response=head)
