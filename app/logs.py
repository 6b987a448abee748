"""Logging for every process: key=value lines (LOG_FORMAT=text, the default) or one JSON
object a line (LOG_FORMAT=json) for a log shipper, with the request id of the request a line
was written in.

Messages stay key=value (STYLE: never a card number, CVC, token or password; phones masked):
the JSON form parses those pairs into fields and adds nothing the text form would not show.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"
_OURS = "_monitorpay_handler"  # marks the handler configure_logging installed
# key=value, the value bare or double-quoted; a key starts a word (not "a=b" inside "x=a=b")
_PAIR = re.compile(r'(?<![^\s,(])([A-Za-z_][A-Za-z0-9_.]*)=("(?:[^"\\]|\\.)*"|[^\s,)]*)')

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def fields(message: str) -> dict[str, str]:
    """The key=value pairs of a message, in order; a repeated key keeps its first value."""
    out: dict[str, str] = {}
    for key, raw in _PAIR.findall(message):
        value = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
        out.setdefault(key, value)
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the message's
    key=value pairs as fields (never replacing those four), the request id, the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for key, value in fields(message).items():
            line.setdefault(key, value)
        if (rid := request_id.get()) is not None:
            line.setdefault("request_id", rid)
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, fmt: LogFormat = "text") -> None:
    """LOG_LEVEL and LOG_FORMAT, in every process (each server worker builds its own app).

    One stderr handler of ours on the root logger, its format set again by each call (the CLI
    configures before uvicorn builds the app in the same process). A root logger configured by
    someone else (pytest, an embedding host) keeps its handlers: only the level is set."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, _OURS, False)]
    if ours:
        handler = ours[0]
    elif root.handlers:
        root.setLevel(level)
        return
    else:
        handler = logging.StreamHandler()
        setattr(handler, _OURS, True)
        root.addHandler(handler)
    handler.setFormatter(formatter(fmt))
    root.setLevel(level)
    if fmt == "json":
        _server_lines_to_root()


def _server_lines_to_root() -> None:
    """uvicorn writes its own lines (start, stop, errors) through handlers of its own: in JSON
    they go through ours instead, so a log shipper never meets a line that is not an object.
    Lines written before the app is built (the first one or two of a start) stay uvicorn's.
    Never "uvicorn.access": it is off (cli.py), as it would write a link's token in the path."""
    server = logging.getLogger("uvicorn")  # uvicorn.error writes through it
    server.handlers.clear()
    server.propagate = True
