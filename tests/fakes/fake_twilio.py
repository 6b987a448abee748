"""A small fake of Twilio's Messages API on 127.0.0.1, for running the real SDK in tests.

`POST /2010-04-01/Accounts/{sid}/Messages.json` accepts a text and answers like Twilio (status
`queued`). Numbers in `.unsubscribed` get Twilio's error 21610; `.fail_next` answers 503 to
that many requests. Every request is recorded in `.requests` (form fields, auth header).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "fake-twilio-auth-token"


@dataclass
class Recorded:
    method: str
    path: str
    form: dict[str, str]
    auth: str


class FakeTwilio:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.unsubscribed: set[str] = set()
        self.fail_next = 0
        self._ids = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("content-length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                fake.requests.append(
                    Recorded("POST", self.path, form, self.headers.get("authorization", ""))
                )
                expected = (
                    "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
                )
                if self.headers.get("authorization") != expected:
                    return self._send(
                        401, {"code": 20003, "message": "Authenticate", "status": 401}
                    )
                if fake.fail_next > 0:
                    fake.fail_next -= 1
                    return self._send(503, {"code": 20500, "message": "Unavailable", "status": 503})
                if not self.path.endswith(f"/Accounts/{ACCOUNT_SID}/Messages.json"):
                    return self._send(404, {"code": 20404, "message": "Not found", "status": 404})
                if form.get("To") in fake.unsubscribed:
                    return self._send(
                        400,
                        {
                            "code": 21610,
                            "message": "Attempt to send to unsubscribed recipient",
                            "status": 400,
                        },
                    )
                sid = f"SM{next(fake._ids):032x}"
                return self._send(
                    201,
                    {
                        "sid": sid,
                        "account_sid": ACCOUNT_SID,
                        "to": form.get("To"),
                        "from": form.get("From"),
                        "body": form.get("Body"),
                        "status": "queued",
                        "num_segments": "1",
                        "direction": "outbound-api",
                        "api_version": "2010-04-01",
                        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def messages(self) -> list[dict[str, str]]:
        return [r.form for r in self.requests if r.path.endswith("/Messages.json")]

    def __enter__(self) -> FakeTwilio:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
