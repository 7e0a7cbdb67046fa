"""Personal fields: placeholders at compile time, a cheap substitution per subscriber.

Computes only. Compiling MJML costs milliseconds, so a variant is rendered and compiled
once with a placeholder where each personal value goes. Each placeholder names its field
and the context it sits in (``%%P.unsubscribe_url.attr%%``), so the substitution escapes
every value for exactly that context: HTML text, an HTML attribute, a URL component inside
an attribute, or raw (the plain-text part). The compiled output is split at the
placeholders once (``PersonalTemplate.parse``); a subscriber's copy is then one list copy,
a handful of assignments and one ``str.join``, with no regular expression and no parser.
"""

from __future__ import annotations

import dataclasses
import enum
import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from markupsafe import Markup

FIELDS = (
    "greeting",
    "name",
    "email",
    "unsubscribe_url",
    "preferences_url",
    "view_url",
)
_PLACEHOLDER = re.compile(r"%%P\.([a-z_]+)\.([a-z]+)%%")


class Slot(enum.Enum):
    """Where a personal value sits, which decides how it is escaped."""

    TEXT = "text"  # HTML element content
    ATTR = "attr"  # a whole HTML attribute value (a link)
    URL = "url"  # one component inside a URL inside an attribute
    RAW = "raw"  # the plain-text part: no escaping at all

    # Members are singletons compared by identity, so identity hashing is consistent; it is
    # Enum's own ``hash(self._name_)``, a Python call, that the send loop would pay for every
    # (field, slot) key of every recipient (``slot_values``).
    __hash__ = object.__hash__


def _escape(value: str, slot: Slot) -> str:
    if slot is Slot.TEXT:
        return html.escape(value, quote=False)
    if slot is Slot.ATTR:
        return html.escape(value, quote=True)
    if slot is Slot.URL:
        return html.escape(quote(value, safe=""), quote=True)
    return value


def placeholder(field: str, slot: Slot) -> str:
    """The marker a template carries for a personal field: ``%%P.field.slot%%``."""
    return f"%%P.{field}.{slot.value}%%"


class Placeholders:
    """What templates call to place a personal field: ``{{ personal.attr('view_url') }}``."""

    def _mark(self, field: str, slot: Slot) -> Markup:
        if field not in FIELDS:
            raise KeyError(f"unknown personal field {field!r}; the fields are: {', '.join(FIELDS)}")
        # safe by construction: the field is one of FIELDS and the slot an enum value
        return Markup(placeholder(field, slot))  # noqa: S704

    def text(self, field: str) -> Markup:
        return self._mark(field, Slot.TEXT)

    def attr(self, field: str) -> Markup:
        return self._mark(field, Slot.ATTR)

    def url(self, field: str) -> Markup:
        return self._mark(field, Slot.URL)

    def raw(self, field: str) -> Markup:
        return self._mark(field, Slot.RAW)


@dataclass(frozen=True, slots=True)
class PersonalTemplate:
    """Compiled output split at its placeholders: literal parts with slots between them."""

    parts: tuple[str, ...]
    slots: tuple[tuple[int, str, Slot], ...]  # (index in parts, field, context)
    used: tuple[tuple[str, Slot], ...] = dataclasses.field(init=False, repr=False, compare=False)
    """Each (field, slot) the template uses, once, in order: worked out once, not per copy."""

    def __post_init__(self) -> None:
        used = tuple(dict.fromkeys((name, slot) for _, name, slot in self.slots))
        object.__setattr__(self, "used", used)

    @classmethod
    def parse(cls, compiled: str) -> PersonalTemplate:
        pieces = _PLACEHOLDER.split(compiled)
        parts: list[str] = []
        slots: list[tuple[int, str, Slot]] = []
        for index in range(0, len(pieces), 3):
            parts.append(pieces[index])
            if index + 2 < len(pieces):
                field, context = pieces[index + 1], pieces[index + 2]
                if field not in FIELDS:
                    raise KeyError(f"unknown personal field {field!r} in compiled output")
                slots.append((len(parts), field, Slot(context)))
                parts.append("")
        return cls(tuple(parts), tuple(slots))

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(field for _, field, _ in self.slots)

    def fill(self, values: Mapping[str, str]) -> str:
        """This template with ``values`` escaped into each slot."""
        parts = list(self.parts)
        escaped: dict[tuple[str, Slot], str] = {}
        for index, field, slot in self.slots:
            key = (field, slot)
            if key not in escaped:
                escaped[key] = _escape(values[field], slot)
            parts[index] = escaped[key]
        return "".join(parts)

    def marked(self, marker: Callable[[str, Slot], str] = placeholder) -> str:
        """The template with ``marker(field, slot)`` in each slot, for server-side merging.

        With the default marker this is the compiled output as it was parsed, placeholders
        and all (SendGrid substitutes them); a provider with its own merge syntax passes a
        marker such as ``%recipient.KEY%`` (Mailgun).
        """
        parts = list(self.parts)
        for index, field, slot in self.slots:
            parts[index] = marker(field, slot)
        return "".join(parts)

    def slot_values(self, values: Mapping[str, str]) -> dict[tuple[str, Slot], str]:
        """Each (field, slot) this template uses, with the value escaped as ``fill`` would.

        A provider that merges server-side sends these per recipient, so the copy it
        builds is byte for byte the one ``fill`` would have made.
        """
        return {key: _escape(values[key[0]], key[1]) for key in self.used}


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a copy is for. ``sections`` None means every section of the newsletter."""

    id: str
    email: str
    name: str | None = None
    sections: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class PersonalLinks:
    unsubscribe_url: str
    preferences_url: str
    view_url: str
    unsubscribe_mailto: str | None = None


def personal_values(recipient: Recipient, links: PersonalLinks) -> dict[str, str]:
    """The value of every personal field for one subscriber."""
    name = (recipient.name or "").strip()
    return {
        "greeting": f"Hello {name}," if name else "Hello,",
        "name": name,
        "email": recipient.email,
        "unsubscribe_url": links.unsubscribe_url,
        "preferences_url": links.preferences_url,
        "view_url": links.view_url,
    }
