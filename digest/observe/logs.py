"""Log lines a machine can read, with the ids ops search by and no personal data. I/O.

Off a terminal (a service manager, a container, a file) every record is one JSON object on
one line, so a log shipper needs no parsing rules; on a terminal a person reads plain text.
The ids that tie a line to the ledger ride in ``extra=`` under fixed names (``LOG_FIELDS``);
an address never does: ``address_hash`` gives a stable short digest that matches the same
subscriber across lines without naming them. As a safety net for text nobody checked (an
exception's message, a library's line), both formats replace anything shaped like an email
address in the message and the traceback with its hash.

An alert is an ERROR line with ``alert=<kind>``: log search finds every alert by that one
field, and the metrics count them by kind (``alert(..., counter=metrics)``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import orjson

LogFormat = Literal["auto", "json", "text"]

LOG_FIELDS = (
    "edition_id",
    "delivery_id",
    "newsletter",
    "batch_key",
    "provider",
    "address_hash",
    "alert",
)
"""The ``extra=`` keys copied into a JSON line; any other extra stays out (it may be personal)."""

TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
HASH_LENGTH = 16  # 64 bits: no collisions in any subscriber list, short enough to read
ADDRESS = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")


def address_hash(email: str) -> str:
    """A digest of the address that identifies a subscriber in logs without naming them.

    Lower-cased first: the same mailbox typed two ways is one subscriber.
    """
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:HASH_LENGTH]


def redact(text: str) -> str:
    """``text`` with every email address replaced by ``address:<hash>``."""
    return ADDRESS.sub(lambda match: f"address:{address_hash(match.group(0))}", text)


class TextFormatter(logging.Formatter):
    """The plain format for a person at a terminal, addresses hashed all the same."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, one record per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in LOG_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def _utc_iso(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the ``sys.stderr`` of the moment, not the one it was made with.

    A CLI run inside another program (a test's CliRunner swaps stderr, then closes it) would
    otherwise leave a handler writing to a closed stream.
    """

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: int, log_format: LogFormat = "auto") -> None:
    """The root logger writes to stderr at ``level``, as JSON or text (``DIGEST_LOG_FORMAT``).

    Replaces the handler an earlier call installed, so calling it again (a second CLI run in
    one process) changes the format instead of doubling every line; handlers others put on
    the root (pytest's capture) stay.
    """
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if use_json(log_format) else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def use_json(log_format: LogFormat) -> bool:
    if log_format == "auto":
        return not sys.stderr.isatty()
    return log_format == "json"


class AlertCounter(Protocol):
    """Where alerts are counted (``Metrics``); a Protocol so logging needs no registry."""

    def count_alert(self, kind: str) -> None: ...


def alert(
    logger: logging.Logger,
    kind: str,
    message: str,
    *,
    counter: AlertCounter | None = None,
    **ids: str | int | None,
) -> None:
    """An ops alert: an ERROR line carrying ``alert=kind`` and the ids it concerns.

    ``ids`` take the names of ``LOG_FIELDS`` (edition_id, newsletter, ...); a None is left
    out, and an unknown name is a programming error raised at once rather than a field that
    silently never reaches the log. With ``counter``, the alert is counted there too.
    """
    unknown = set(ids) - set(LOG_FIELDS)
    if unknown:
        raise ValueError(f"unknown log field(s) {sorted(unknown)}; use {', '.join(LOG_FIELDS)}")
    extra = {name: value for name, value in ids.items() if value is not None}
    logger.error(message, extra={**extra, "alert": kind})
    if counter is not None:
        counter.count_alert(kind)
