"""Validating a TOML table key by key, with the line of every problem. Computes only.

A ``Checker`` collects problems (file, line, key, what to do) so that every mistake in a
configuration file is reported at once; a ``Table`` is one table being read. The
``read_*`` helpers read one value each and record a problem instead of raising.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from digest.errors import ConfigError
from digest.toml_lines import KeyPath, LineMap

LINE_BREAK = re.compile(r"[\r\n\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Checker:
    """Collects problems with the line each one is on."""

    def __init__(self, path: Path, lines: LineMap) -> None:
        self.path = path
        self.lines = lines
        self.problems: list[tuple[int, int, str]] = []

    def fail(self, at: KeyPath, label: str, message: str) -> None:
        line = self.lines.line_of(at)
        where = f"{self.path}, line {line}" if line is not None else str(self.path)
        text = f"{where}: {label}: {message}" if label else f"{where}: {message}"
        self.problems.append((line or 0, len(self.problems), text))

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError("\n".join(text for _, _, text in sorted(self.problems)))

    @property
    def count(self) -> int:
        return len(self.problems)


@dataclass(frozen=True)
class Table:
    """A TOML table being validated: its key path and how messages name it."""

    checker: Checker
    data: Mapping[str, Any]
    path: KeyPath
    owner: str  # "newsletter 'daily'" (or "" for the publication)
    prefix: str  # "sections[2]." or "publication."
    header: str  # how an editor writes the table: "[[newsletter.sections]]"

    def at(self, key: str | int) -> KeyPath:
        return (*self.path, key)

    def label(self, key: str) -> str:
        name = f"{self.prefix}{key}"
        return f"{self.owner}, {name}" if self.owner else name

    def fail(self, key: str, message: str, at: KeyPath | None = None) -> None:
        self.checker.fail(at if at is not None else self.at(key), self.label(key), message)

    def check_keys(self, allowed: tuple[str, ...]) -> None:
        for key in self.data:
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            self.fail(
                key,
                f"unknown key {key!r}; {hint}the keys of {self.header} are: {', '.join(allowed)}",
            )

    def missing(self, key: str, example: str) -> None:
        self.checker.fail(
            self.path,
            self.label(key),
            f"missing; add {key} = {example} to this {self.header} table",
        )

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def has(self, key: str) -> bool:
        return key in self.data


def kind_of(value: object) -> str:
    """What an editor would call a TOML value's type."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime | date | time):
        return "a date or time"
    return type(value).__name__


def as_written(value: object) -> str:
    """A scalar as it is written in TOML (strings in double quotes); others by their kind."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    return kind_of(value)


def found_instead(value: object) -> str:
    """What was found instead: ``"7" (a string)``, ``true (true/false)``, ``an array``."""
    if isinstance(value, str | int | float):
        return f"{as_written(value)} ({kind_of(value)})"
    return kind_of(value)


def read_text(
    table: Table,
    key: str,
    *,
    example: str,
    default: str | None = None,
    required: bool = True,
    allow_empty: bool = False,
    one_line: bool = True,
) -> str | None:
    """A string value; None when absent and optional (or after recording a problem)."""
    if not table.has(key):
        if required:
            table.missing(key, example)
        return default
    value = table.get(key)
    if not isinstance(value, str):
        table.fail(key, f"must be a string, got {found_instead(value)}; write {key} = {example}")
        return default
    if not allow_empty and not value.strip():
        table.fail(key, f"must not be empty; write {key} = {example}")
        return default
    if one_line and LINE_BREAK.search(value):
        table.fail(key, "must be one line without control characters; remove the line breaks")
        return default
    return value.strip() if not allow_empty else value


def read_choice(table: Table, key: str, *, choices: tuple[str, ...], default: str) -> str:
    """One of a few fixed strings; the default when absent (or after recording a problem)."""
    if not table.has(key):
        return default
    value = table.get(key)
    if isinstance(value, str) and value in choices:
        return value
    close = difflib.get_close_matches(value, choices, n=1) if isinstance(value, str) else []
    hint = f"did you mean {close[0]!r}? " if close else ""
    allowed = ", ".join(f'"{choice}"' for choice in choices)
    table.fail(
        key,
        f"must be one of {allowed}, got {found_instead(value)}; {hint}write e.g."
        f' {key} = "{default}"',
    )
    return default


def read_integer(table: Table, key: str, *, default: int | None, low: int, high: int) -> int | None:
    if not table.has(key):
        return default
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        is_integer = isinstance(value, int) and not isinstance(value, bool)
        got = str(value) if is_integer else found_instead(value)
        table.fail(
            key,
            f"must be an integer from {low} to {high}, got {got}; write e.g."
            f" {key} = {default if default is not None else low}",
        )
        return default
    return value


def read_boolean(table: Table, key: str, *, default: bool) -> bool:
    if not table.has(key):
        return default
    value = table.get(key)
    if not isinstance(value, bool):
        table.fail(
            key,
            f"must be true or false, got {found_instead(value)}; write {key} = true"
            " or false, without quotes",
        )
        return default
    return value


def read_subtable(table: Table, key: str) -> Mapping[str, Any] | None:
    value = table.get(key)
    if isinstance(value, dict):
        return value
    table.fail(key, f"must be a table, got {found_instead(value)}; write [newsletter.{key}]")
    return None


def read_table_list(
    data: Mapping[str, Any],
    key: str,
    *,
    fail: Callable[[str], None],
    header: str,
) -> list[Mapping[str, Any]] | None:
    """An array of tables, or None after recording why it is not one."""
    value = data.get(key)
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    if isinstance(value, dict):
        fail(f"must be written {header} with double brackets, one per entry")
    else:
        fail(f"must be {header} tables, got {found_instead(value)}")
    return None
