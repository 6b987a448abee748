"""A small fake of Twilio's Messages API on 127.0.0.1, for running the real SDK in tests.

`POST /2010-04-01/Accounts/{sid}/Messages.json` takes a text and answers like Twilio (201, status
`queued`); the text is then held, as Twilio holds it, in `.accepted` (what reaches phones).
`GET …/Messages.json` lists held texts newest first, filtered like Twilio's by `To`, `From` and
`DateSent` / `DateSent<` / `DateSent>` (a GMT day, on the day a text was sent), in pages
(`PageSize`, `Page`, `next_page_uri`); `GET …/Messages/{sid}.json` fetches one (404, error 20404,
for an unknown sid). The StatusCallback URL a text was created with is kept in `.callbacks`
(Twilio never lists it back), so a test can play Twilio's delivery report.

Failures: numbers in `.unsubscribed` get Twilio's error 21610 (400) and in `.invalid` 21211;
`.fail_next` answers 503 to that many requests before taking anything. `lose_next(mode)` makes
the next create lose its answer: with `accepted=True` (the default) Twilio took the text first
("did it, then lost the answer"); `mode` is "drop" (the connection closes with no answer), "500"
(an error answer) or "hang" (no answer until the client gives up). `.hide_from_list` keeps that
many list requests from showing anything (a list that lags behind). Every request is recorded in
`.requests` (method, path, form or query fields, auth header).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "fake-twilio-auth-token"
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages"
LOSE_MODES = ("drop", "500", "hang")
HANG_SECONDS = 10.0  # a hung answer ends by then at the latest (or when the fake stops)


@dataclass
class Recorded:
    method: str
    path: str
    form: dict[str, str]
    auth: str


class FakeTwilio:
    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.requests: list[Recorded] = []
        self.accepted: list[dict[str, Any]] = []  # held texts, as Twilio's Message resource
        self.callbacks: dict[str, str] = {}  # sid → the StatusCallback URL it was created with
        self.unsubscribed: set[str] = set()
        self.invalid: set[str] = set()
        self.fail_next = 0
        self.hide_from_list = 0
        self.clock = clock or (lambda: datetime.now(UTC))
        self._lose: deque[tuple[str, bool]] = deque()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def lose_next(self, mode: str, *, accepted: bool = True) -> None:
        """The next create loses its answer; `accepted`: Twilio took the text before that."""
        if mode not in LOSE_MODES:
            raise ValueError(f"mode must be one of {LOSE_MODES}")
        self._lose.append((mode, accepted))

    @property
    def messages(self) -> list[dict[str, str]]:
        """The form of every create request, taken or not."""
        return [r.form for r in self.requests if r.method == "POST" and _is_list(r.path)]

    def _create(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Twilio's answer to a create; the text is held when the answer is 201."""
        to = form.get("To", "")
        if to in self.unsubscribed:
            return 400, _error(21610, "Attempt to send to unsubscribed recipient", 400)
        if to in self.invalid:
            return 400, _error(21211, f"The 'To' number {to} is not a valid phone number.", 400)
        now = self.clock()
        sid = f"SM{next(self._ids):032x}"
        message = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "to": to,
            "from": form.get("From"),
            "body": form.get("Body"),
            "status": "queued",
            "num_segments": "1",
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": format_datetime(now, usegmt=True),
            "date_updated": format_datetime(now, usegmt=True),
            "date_sent": None,
            "error_code": None,
            "error_message": None,
            "price": None,
            "price_unit": "USD",
            "messaging_service_sid": None,
            "uri": f"{MESSAGES}/{sid}.json",
            "subresource_uris": {"media": f"{MESSAGES}/{sid}/Media.json"},
        }
        with self._lock:
            self.accepted.append(message)
            if form.get("StatusCallback"):
                self.callbacks[sid] = form["StatusCallback"]
        answer = dict(message)
        # Twilio hands it to the carrier at once here: listed as sent, with its send date
        message.update(status="sent", date_sent=message["date_created"])
        return 201, answer

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        if self.hide_from_list > 0:
            self.hide_from_list -= 1
            shown: list[dict[str, Any]] = []
        else:
            with self._lock:
                shown = [m for m in reversed(self.accepted) if _matches(m, query)]
        size = min(int(query.get("PageSize") or 50), 1000)
        page = int(query.get("Page") or 0)
        chunk = shown[page * size : (page + 1) * size]
        filters = {k: v for k, v in query.items() if k not in {"Page", "PageSize", "PageToken"}}

        def uri(n: int) -> str:
            return f"{MESSAGES}.json?" + urlencode({**filters, "PageSize": size, "Page": n})

        more = (page + 1) * size < len(shown)
        return {
            "messages": chunk,
            "page": page,
            "page_size": size,
            "start": page * size,
            "end": page * size + max(len(chunk) - 1, 0),
            "uri": uri(page),
            "first_page_uri": uri(0),
            "previous_page_uri": uri(page - 1) if page > 0 else None,
            "next_page_uri": uri(page + 1) + f"&PageToken=PA{page + 1}" if more else None,
        }

    def _fetch(self, sid: str) -> dict[str, Any] | None:
        with self._lock:
            return next((m for m in self.accepted if m["sid"] == sid), None)

    def __enter__(self) -> FakeTwilio:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._released.set()  # hung answers end now
        self._server.shutdown()
        self._server.server_close()


def _handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    expected_auth = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            return

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            url = urlsplit(self.path)
            query = dict(parse_qsl(url.query))
            if not self._admitted("GET", url.path, query):
                return
            if _is_list(url.path):
                return self._send(200, fake._list(query))
            found = fake._fetch(url.path.rsplit("/", 1)[-1].removesuffix(".json"))
            if not url.path.startswith(MESSAGES + "/") or found is None:
                return self._send(404, _error(20404, "The requested resource was not found", 404))
            return self._send(200, found)

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            length = int(self.headers.get("content-length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            if not self._admitted("POST", self.path, form):
                return
            if not _is_list(self.path):
                return self._send(404, _error(20404, "The requested resource was not found", 404))
            lose = fake._lose.popleft() if fake._lose else None
            if lose is not None and not lose[1]:
                return self._lose_answer(lose[0])  # lost before Twilio took anything
            status, answer = fake._create(form)
            if lose is not None and status == 201:
                return self._lose_answer(lose[0])
            return self._send(status, answer)

        def _admitted(self, method: str, path: str, fields: dict[str, str]) -> bool:
            """Record the request; answer 401 / 503 (nothing done) when Twilio would."""
            auth = self.headers.get("authorization", "")
            fake.requests.append(Recorded(method, path, fields, auth))
            if auth != expected_auth:
                self._send(401, _error(20003, "Authenticate", 401))
                return False
            if fake.fail_next > 0:
                fake.fail_next -= 1
                self._send(503, _error(20500, "Service Unavailable", 503))
                return False
            return True

        def _lose_answer(self, mode: str) -> None:
            if mode == "500":
                return self._send(500, _error(20500, "Internal Server Error", 500))
            if mode == "hang":
                fake._released.wait(HANG_SECONDS)
            self.close_connection = True  # "drop" (or a hang given up): no answer at all

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _is_list(path: str) -> bool:
    return urlsplit(path).path == f"{MESSAGES}.json"


def _error(code: int, message: str, status: int) -> dict[str, Any]:
    return {"code": code, "message": message, "more_info": "", "status": status}


def _matches(message: dict[str, Any], query: dict[str, str]) -> bool:
    """Twilio's list filters: To and From exactly; DateSent on the GMT day a text was sent (a
    text not sent yet has no such day and matches no DateSent filter)."""
    if "To" in query and message["to"] != query["To"]:
        return False
    if "From" in query and message["from"] != query["From"]:
        return False
    bounds = {k: _day(query[k]) for k in ("DateSent", "DateSent<", "DateSent>") if k in query}
    if not bounds:
        return True
    if message["date_sent"] is None:
        return False
    sent = datetime.strptime(message["date_sent"], "%a, %d %b %Y %H:%M:%S GMT").date()
    return (
        sent == bounds.get("DateSent", sent)
        and sent <= bounds.get("DateSent<", sent)
        and sent >= bounds.get("DateSent>", sent)
    )


def _day(text: str) -> date:
    """The SDK sends `2026-11-25T00:00:00Z` (or a plain day): Twilio reads the day."""
    return date.fromisoformat(text[:10])
