"""Subscriber CSV import: a publisher's list read into checked rows, then written in batches.

Parsing is pure (``parse`` takes lines and yields rows or rejections), so every rule below is
tested without a file or a database; ``import_csv`` is the thin I/O edge that opens the file
and hands batches of rows to ``SubscriberStore.import_batch``, one transaction each.

The file: a header line naming the columns email (required), name, sections, timezone and
send_hour, in any letter case, with spaces or underscores ("Email", "Send Hour",
"time zone"); other columns are ignored, so an export re-imports as it is. Cells are
separated by ``,`` or ``;``, whichever the header line uses more; UTF-8, with or without a
byte-order mark. Inside the sections cell, names are separated by ``|`` or by the other one
of ``,`` and ``;`` (``Science|Culture`` always works).

Every bad row is rejected with its physical line number (the header is line 1) and a reason,
and every good row is kept: an invalid address (email-validator's syntax rules, no DNS), an
unknown section, an unknown time zone, a send hour outside 0..23, and an address seen on an
earlier line (the later line is the duplicate). An empty cell asserts nothing: it leaves what
the store holds as it is (a new subscriber with no sections gets every section).
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import available_timezones

from digest.errors import SourceError
from subscribers.addresses import InvalidAddress, clean_name, normalize
from subscribers.model import Source

if TYPE_CHECKING:
    from subscribers.store import SubscriberStore

BATCH_SIZE = 1000
Progress = Callable[[int, int], None]
COLUMNS = ("email", "name", "sections", "timezone", "send_hour")
EXPORTED = (  # the export's other columns: known, read past in silence on re-import
    "status",
    "newsletter",
    "subscription_status",
    "cadence",
    "consent_source",
    "consent_at",
    "created_at",
    "confirmed_at",
    "unsubscribed_at",
)
ALIASES = {"emailaddress": "email", "section": "sections", "sendhour": "send_hour"}
OTHER_SEPARATOR = {",": ";", ";": ","}  # besides "|", inside a sections cell


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One good row: what the file asserts about one address (None: the cell was empty)."""

    line: int
    email: str
    name: str | None = None
    sections: tuple[str, ...] | None = None
    timezone: str | None = None
    send_hour: int | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    email: str
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "email": self.email, "reason": self.reason}


@dataclass(slots=True)
class ImportOutcome:
    """What an import did; ``ignored_columns`` are header names it did not use."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def add(self, other: ImportOutcome) -> None:
        self.added += other.added
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected.extend(other.rejected)

    def as_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [r.as_json() for r in sorted(self.rejected, key=lambda r: r.line)],
        }


class RowError(ValueError):
    """One cell is wrong; the message is the rejection's reason."""


@dataclass(frozen=True)
class Header:
    """Where each known column sits, and the file's cell separator."""

    delimiter: str
    positions: dict[str, int]
    width: int
    ignored: list[str]


# -- the file (I/O) ---------------------------------------------------------------------------


def import_csv(
    store: SubscriberStore,
    path: Path,
    newsletter: str,
    sections: Sequence[str],
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> ImportOutcome:
    """Import ``path`` into ``newsletter`` (whose sections are ``sections``), batch by batch.

    ``progress`` hears (rows done, rows expected) after each batch. The expectation is the
    file's line count, known from the UTF-8 check's pass, and may overcount when a quoted
    cell spans lines; the last call gives the true total.
    """
    expected = max(check_utf8(path) - 1, 0)  # less the header line
    outcome = ImportOutcome()
    done = 0
    with _open_text(path) as lines:
        header, rows = parse(lines, sections, str(path))
        outcome.ignored_columns = header.ignored
        while batch := list(islice(rows, batch_size)):
            good = [row for row in batch if isinstance(row, ImportRow)]
            outcome.rejected.extend(row for row in batch if isinstance(row, Rejection))
            outcome.add(store.import_batch(newsletter, good, Source.IMPORT))
            done += len(batch)
            if progress is not None:
                progress(done, max(expected, done))
    if progress is not None:
        progress(done, done)
    return outcome


def check_utf8(path: Path) -> int:
    """Refuse a file that is not UTF-8 before anything is written, naming its first bad line.

    Returns the file's number of lines, counted on the way, for the import's progress.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    last = b""
    try:
        with path.open("rb") as raw:
            for chunk in iter(lambda: raw.read(1 << 20), b""):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    line += exc.object[: exc.start].count(b"\n")
                    raise SourceError(
                        str(path), f"line {line} is not UTF-8 text ({exc.reason}); save as UTF-8"
                    ) from exc
                line += chunk.count(b"\n")
                last = chunk[-1:]
    except OSError as exc:
        raise SourceError(str(path), f"cannot read it ({exc.strerror}); check the path") from exc
    return line - 1 if last in (b"\n", b"") else line


def _open_text(path: Path) -> Any:
    try:
        return path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise SourceError(str(path), f"cannot read it ({exc.strerror}); check the path") from exc


# -- parsing (pure) ---------------------------------------------------------------------------


def parse(
    lines: Iterable[str], sections: Sequence[str], name: str
) -> tuple[Header, Iterator[ImportRow | Rejection]]:
    """The header of a CSV text and a lazy stream of its rows, each checked.

    ``sections`` are the newsletter's, in its spelling; ``name`` names the file in errors.
    A file with no header or no email column is a ``SourceError``.
    """
    source = iter(lines)
    first = next(source, "").lstrip("\ufeff")
    if not first.strip():
        raise SourceError(name, f"no header line; the first line must name the columns {COLUMNS}")
    header = read_header(first, name)
    reader = csv.reader(_chain(first, source), delimiter=header.delimiter)
    next(reader)
    return header, _rows(reader, header, {s.casefold(): s for s in sections})


def read_header(line: str, name: str) -> Header:
    delimiter = ";" if line.count(";") > line.count(",") else ","
    cells = next(csv.reader([line], delimiter=delimiter))
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for position, cell in enumerate(cells):
        column = column_name(cell)
        if column is None:
            if cell.strip() not in EXPORTED:
                ignored.append(cell.strip())
        elif column in positions:
            raise SourceError(name, f"line 1: the column {column!r} appears twice; keep one")
        else:
            positions[column] = position
    if "email" not in positions:
        found = ", ".join(repr(c.strip()) for c in cells)
        raise SourceError(
            name,
            f"line 1: no email column (found {found}); "
            f"name the columns {', '.join(COLUMNS)}, separated by ',' or ';'",
        )
    return Header(delimiter, positions, len(cells), ignored)


def column_name(cell: str) -> str | None:
    """The column a header cell names: letter case, spaces and underscores do not count."""
    key = "".join(cell.casefold().split()).replace("_", "")
    column = ALIASES.get(key, key)
    return column if column in COLUMNS else None


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _rows(reader: Any, header: Header, sections: dict[str, str]) -> Iterator[ImportRow | Rejection]:
    seen: dict[str, int] = {}
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Rejection(line, "", f"not a readable CSV row ({exc})")
        else:
            if any(cell.strip() for cell in cells):
                yield check_row(line, cells, header, sections, seen)
        line = reader.line_num + 1


def check_row(
    line: int, cells: list[str], header: Header, sections: dict[str, str], seen: dict[str, int]
) -> ImportRow | Rejection:
    """One row checked; ``seen`` maps each address taken so far to its line."""
    values = {column: _cell(cells, position) for column, position in header.positions.items()}
    email = values["email"]
    try:
        if len(cells) > header.width:
            raise RowError(
                f"{len(cells)} cells where the header has {header.width}; "
                f"quote values that contain {header.delimiter!r}"
            )
        row = ImportRow(
            line=line,
            email=address(email),
            name=clean_name(values.get("name")),
            sections=section_list(
                values.get("sections", ""), sections, "|" + OTHER_SEPARATOR[header.delimiter]
            ),
            timezone=time_zone(values.get("timezone", "")),
            send_hour=send_hour(values.get("send_hour", "")),
        )
    except RowError as exc:
        return Rejection(line, email, str(exc))
    key = row.email.casefold()  # one subscriber per address whatever its letter case
    if key in seen:
        return Rejection(line, email, f"duplicate of line {seen[key]}")
    seen[key] = line
    return row


def _cell(cells: list[str], position: int) -> str:
    return cells[position].strip() if position < len(cells) else ""


def address(text: str) -> str:
    if not text:
        raise RowError("no email address")
    try:
        return normalize(text)
    except InvalidAddress as exc:
        raise RowError(f"invalid address: {exc}") from None


def section_list(text: str, known: dict[str, str], separators: str) -> tuple[str, ...] | None:
    """The sections named in ``text``, in the newsletter's spelling and order; None if none.

    ``known`` maps each case-folded section name to its spelling; names are separated by any
    of ``separators``. An unknown name is a ``RowError`` listing the known ones.
    """
    names = [name.strip() for name in re.split(f"[{re.escape(separators)}]", text)]
    names = [name for name in names if name]
    if not names:
        return None
    unknown = [name for name in names if name.casefold() not in known]
    if unknown:
        raise RowError(
            f"unknown section {unknown[0]!r}; the newsletter's sections are: "
            + ", ".join(known.values())
        )
    chosen = {known[name.casefold()] for name in names}
    return tuple(section for section in known.values() if section in chosen)


def time_zone(text: str) -> str | None:
    """An IANA time zone name in its canonical spelling (any letter case); None if empty."""
    if not text:
        return None
    zone = _zones().get(text.casefold())
    if zone is None:
        raise RowError(f"unknown time zone {text!r}; use an IANA name such as Europe/Paris")
    return zone


@cache
def _zones() -> dict[str, str]:
    return {zone.casefold(): zone for zone in available_timezones()}


def send_hour(text: str) -> int | None:
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and int(text) <= 23):
        raise RowError(f"send hour {text!r} is not a whole hour from 0 to 23")
    return int(text)
