"""Line numbers of the keys of a TOML document, for error messages (pure, no I/O).

``tomllib`` returns plain dicts and lists without positions, so a configuration error found
after parsing could not otherwise say where it is. ``map_lines`` scans the same text once and
records, for every key path it can see, the line where it is written. A key path is the
sequence of dict keys and list indexes that ``tomllib``'s result is indexed with::

    [[newsletter]]            # ("newsletter",) and ("newsletter", 0)
    name = "daily"            # ("newsletter", 0, "name")
    [[newsletter.sections]]   # ("newsletter", 0, "sections", 0)
    name = "Science"          # ("newsletter", 0, "sections", 0, "name")

It understands ``[tables]`` and ``[[arrays.of.tables]]`` (counting occurrences, nested arrays
of tables belonging to the latest occurrence of their parent), dotted and quoted keys,
comments, every string form, and values spread over several lines: the elements of arrays
and the keys of inline tables get the line where they start. ``LineMap.line_of`` falls back
to the nearest ancestor that has a line, so a path always finds the closest place to point at.

The scanner is meant for text that ``tomllib`` has accepted; on anything else it does its
best and never raises.
"""

from __future__ import annotations

import bisect
import contextlib
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field

KeyPath = tuple[str | int, ...]

_BARE_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SCALAR_END = frozenset(",]}#\n")


@dataclass(frozen=True)
class LineMap:
    """Where each key path of a TOML document is written (1-based line numbers)."""

    lines: dict[KeyPath, int] = field(default_factory=dict)

    def exact(self, path: KeyPath) -> int | None:
        """The line of exactly this path, or None when it has no line of its own."""
        return self.lines.get(tuple(path))

    def line_of(self, path: KeyPath) -> int | None:
        """The line of the path or of its nearest ancestor that has one; None for the root."""
        path = tuple(path)
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def __iter__(self) -> Iterator[KeyPath]:
        return iter(self.lines)


def map_lines(text: str) -> LineMap:
    """Scan a TOML document and map each key path in it to its line."""
    scanner = _Scanner(text)
    with contextlib.suppress(RecursionError):  # absurdly nested arrays: keep what was seen
        scanner.document()
    return LineMap(dict(scanner.lines))


class _Scanner:
    """A recursive-descent reader of TOML that records positions instead of values."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line_starts = [0] + [i + 1 for i, char in enumerate(text) if char == "\n"]
        self.lines: dict[KeyPath, int] = {}
        self.explicit: set[KeyPath] = set()
        self.array_counts: dict[KeyPath, int] = {}
        self.table: KeyPath = ()

    # -- recording -------------------------------------------------------------------------

    def line_at(self, pos: int) -> int:
        return bisect.bisect_right(self.line_starts, pos)

    def define(self, path: KeyPath, line: int) -> None:
        """Record where a path is defined; a definition wins over an implicit mention."""
        if path not in self.explicit:
            self.lines[path] = line
            self.explicit.add(path)

    def mention(self, path: KeyPath, line: int) -> None:
        """Record a path created implicitly (a dotted key's parent), unless already known."""
        self.lines.setdefault(path, line)

    # -- characters ------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.text[index] if index < len(self.text) else ""

    def startswith(self, prefix: str) -> bool:
        return self.text.startswith(prefix, self.pos)

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_spaces(self) -> None:
        while self.peek() in (" ", "\t"):
            self.pos += 1

    def skip_comment(self) -> None:
        if self.peek() == "#":
            end = self.text.find("\n", self.pos)
            self.pos = len(self.text) if end < 0 else end

    def skip_blank(self) -> None:
        """Spaces, newlines and comments: what may sit between array elements."""
        while not self.at_end():
            char = self.peek()
            if char in (" ", "\t", "\r", "\n"):
                self.pos += 1
            elif char == "#":
                self.skip_comment()
            else:
                return

    def skip_line(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end + 1

    # -- the document ----------------------------------------------------------------------

    def document(self) -> None:
        while True:
            self.skip_blank()
            if self.at_end():
                return
            start = self.pos
            line = self.line_at(self.pos)
            if self.startswith("[["):
                self.pos += 2
                keys = self.keys()
                self.array_header(keys, line)
            elif self.peek() == "[":
                self.pos += 1
                keys = self.keys()
                self.table_header(keys, line)
            else:
                keys = self.keys()
                self.skip_spaces()
                if keys and self.peek() == "=":
                    self.pos += 1
                    self.key_value(self.table, keys, line)
                else:
                    self.skip_line()
                    continue
            self.skip_spaces()
            self.skip_comment()
            # never loop without progress; skip what is left of a line tomllib would reject
            if self.pos == start or (not self.at_end() and self.peek() not in ("\n", "\r")):
                self.skip_line()

    def resolve(self, keys: list[str]) -> KeyPath:
        """A header's keys as a path: arrays of tables stand for their latest element."""
        path: KeyPath = ()
        for key in keys:
            path = (*path, key)
            count = self.array_counts.get(path)
            if count:
                path = (*path, count - 1)
        return path

    def table_header(self, keys: list[str], line: int) -> None:
        self.skip_spaces()
        if self.peek() == "]":
            self.pos += 1
        if not keys:
            return
        parent = self.resolve(keys[:-1])
        self.mention_prefixes(parent, line)
        path = (*parent, keys[-1])
        self.define(path, line)
        self.table = path

    def array_header(self, keys: list[str], line: int) -> None:
        self.skip_spaces()
        if self.startswith("]]"):
            self.pos += 2
        if not keys:
            return
        parent = self.resolve(keys[:-1])
        self.mention_prefixes(parent, line)
        array = (*parent, keys[-1])
        index = self.array_counts.get(array, 0)
        self.array_counts[array] = index + 1
        self.mention(array, line)
        path = (*array, index)
        self.define(path, line)
        self.table = path

    def mention_prefixes(self, path: KeyPath, line: int) -> None:
        for end in range(1, len(path) + 1):
            self.mention(path[:end], line)

    def key_value(self, table: KeyPath, keys: list[str], line: int) -> None:
        """``a.b.c = value`` inside ``table``: the parents are mentioned, the key defined."""
        for end in range(1, len(keys)):
            self.mention((*table, *keys[:end]), line)
        path = (*table, *keys)
        self.define(path, line)
        self.skip_spaces()
        self.value(path)

    # -- keys ------------------------------------------------------------------------------

    def keys(self) -> list[str]:
        """A dotted key (``a."b.c".'d'``); stops before ``=``, ``]`` or anything unexpected."""
        keys: list[str] = []
        while True:
            self.skip_spaces()
            char = self.peek()
            if char == '"':
                keys.append(self.quoted_key(basic=True))
            elif char == "'":
                keys.append(self.quoted_key(basic=False))
            elif char in _BARE_KEY_CHARS and char:
                start = self.pos
                while self.peek() in _BARE_KEY_CHARS and self.peek():
                    self.pos += 1
                keys.append(self.text[start : self.pos])
            else:
                return keys
            self.skip_spaces()
            if self.peek() != ".":
                return keys
            self.pos += 1

    def quoted_key(self, *, basic: bool) -> str:
        start = self.pos
        self.single_line_string(basic=basic)
        raw = self.text[start : self.pos]
        try:
            return str(tomllib.loads(f"k = {raw}")["k"])
        except tomllib.TOMLDecodeError:
            return raw.strip("\"'")

    # -- values ----------------------------------------------------------------------------

    def value(self, path: KeyPath) -> None:
        if self.startswith('"""'):
            self.multi_line_string('"""', basic=True)
        elif self.startswith("'''"):
            self.multi_line_string("'''", basic=False)
        elif self.peek() == '"':
            self.single_line_string(basic=True)
        elif self.peek() == "'":
            self.single_line_string(basic=False)
        elif self.peek() == "[":
            self.array(path)
        elif self.peek() == "{":
            self.inline_table(path)
        else:
            self.scalar()

    def single_line_string(self, *, basic: bool) -> None:
        quote = self.peek()
        self.pos += 1
        while not self.at_end():
            char = self.peek()
            if basic and char == "\\":
                self.pos += 2
                continue
            if char == "\n":
                return
            self.pos += 1
            if char == quote:
                return

    def multi_line_string(self, delimiter: str, *, basic: bool) -> None:
        self.pos += 3
        while not self.at_end():
            if basic and self.peek() == "\\":
                self.pos += 2
                continue
            if self.startswith(delimiter):
                self.pos += 3
                # up to two quotes right before the closing delimiter belong to the string
                extra = 0
                while extra < 2 and self.peek() == delimiter[0]:
                    self.pos += 1
                    extra += 1
                return
            self.pos += 1

    def scalar(self) -> None:
        """A number, boolean or date: up to a separator, a comment or the end of the line."""
        while not self.at_end() and self.peek() not in _SCALAR_END:
            self.pos += 1

    def array(self, path: KeyPath) -> None:
        self.pos += 1
        index = 0
        while not self.at_end():
            self.skip_blank()
            if self.peek() == "]":
                self.pos += 1
                return
            start = self.pos
            element = (*path, index)
            self.define(element, self.line_at(self.pos))
            self.value(element)
            self.skip_blank()
            if self.peek() == ",":
                self.pos += 1
                index += 1
            elif self.peek() == "]":
                self.pos += 1
                return
            elif self.pos == start:
                return

    def inline_table(self, path: KeyPath) -> None:
        self.pos += 1
        while not self.at_end():
            self.skip_blank()
            if self.peek() == "}":
                self.pos += 1
                return
            line = self.line_at(self.pos)
            keys = self.keys()
            self.skip_spaces()
            if not keys or self.peek() != "=":
                return
            self.pos += 1
            self.key_value(path, keys, line)
            self.skip_blank()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() == "}":
                self.pos += 1
                return
            else:
                return
