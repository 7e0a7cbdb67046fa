"""The newsletter configuration as the rest of digest sees it: plain frozen data.

``digest.newsletters`` reads and validates the editors' TOML file into these values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from digest.errors import ConfigError

DEFAULT_TEMPLATE = "digest"
DEFAULT_SUBJECT = "{{ newsletter.title }} #{{ issue_number }}"
DEFAULT_MAXIMUM = 5
DEFAULT_WINDOW_DAYS = 7
DEFAULT_GRACE_MINUTES = 60
DEFAULT_MAX_AGE_DAYS = 365
DEFAULT_APPROVAL_DEADLINE_MINUTES = 60

Approval = Literal["none", "wait", "deadline"]
APPROVALS: tuple[Approval, ...] = ("none", "wait", "deadline")
"""Whether an edition needs an editor's approval to go out: no; yes, waiting as long as it
takes; or yes, until a deadline after the slot, when it goes out anyway."""


@dataclass(frozen=True)
class Publication:
    """The publication every newsletter draws from."""

    name: str
    sections: tuple[str, ...]
    postal_address: str

    def section_named(self, name: str) -> str | None:
        """The publication's spelling of a section name given in any letter case."""
        wanted = name.strip().casefold()
        return next((s for s in self.sections if s.casefold() == wanted), None)


@dataclass(frozen=True)
class SectionConfig:
    """One section of a newsletter, in display order."""

    name: str
    maximum: int = DEFAULT_MAXIMUM
    minimum: int | None = None


@dataclass(frozen=True)
class Evergreen:
    """Filling thin sections with older, never-sent articles of the same section."""

    minimum: int
    max_age_days: int = DEFAULT_MAX_AGE_DAYS

    @property
    def max_age(self) -> timedelta:
        return timedelta(days=self.max_age_days)


@dataclass(frozen=True, kw_only=True)
class Newsletter:
    """One newsletter as the editors declared it (build it with keyword arguments)."""

    name: str
    title: str
    sender_name: str
    sender_address: str
    reply_to: str | None = None
    timezone: str
    cadence: str
    template: str = DEFAULT_TEMPLATE
    subject: str = DEFAULT_SUBJECT
    preheader: str = ""
    window_days: int = DEFAULT_WINDOW_DAYS
    since_previous: bool = True
    grace_minutes: int = DEFAULT_GRACE_MINUTES
    evergreen: Evergreen | None = None
    utm: Mapping[str, str] | None = None
    weekly_rollup: str | None = None  # crontab of a weekly roll-up subscribers may choose
    message_stream: str | None = None  # Postmark's stream for this newsletter
    approval: Approval = "none"
    approval_deadline_minutes: int = DEFAULT_APPROVAL_DEADLINE_MINUTES
    sections: tuple[SectionConfig, ...]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def window(self) -> timedelta:
        """How far back the selection window reaches at most."""
        return timedelta(days=self.window_days)

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self.grace_minutes)

    @property
    def approval_deadline(self) -> timedelta:
        """How long after the slot an unapproved edition waits (with ``approval = "deadline"``)."""
        return timedelta(minutes=self.approval_deadline_minutes)

    @property
    def section_names(self) -> tuple[str, ...]:
        return tuple(section.name for section in self.sections)

    def section(self, name: str) -> SectionConfig:
        """The newsletter's configuration of a section (any letter case); KeyError if absent."""
        wanted = name.casefold()
        for section in self.sections:
            if section.name.casefold() == wanted:
                return section
        raise KeyError(f"newsletter {self.name!r} has no section {name!r}")

    def section_minimum(self, section_name: str) -> int:
        """How many articles the section should have before the evergreen fill stops."""
        section = self.section(section_name)
        if section.minimum is not None:
            return section.minimum
        return self.evergreen.minimum if self.evergreen else 0


@dataclass(frozen=True)
class NewsletterConfig:
    """The whole newsletters file: the publication and its newsletters, in file order."""

    publication: Publication
    newsletters: tuple[Newsletter, ...]
    path: Path

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(newsletter.name for newsletter in self.newsletters)

    def get(self, name: str) -> Newsletter:
        found = self.get_or_none(name)
        if found is not None:
            return found
        raise ConfigError(
            f"no newsletter named {name!r} in {self.path}; declared: {', '.join(self.names)}"
        )

    def get_or_none(self, name: str) -> Newsletter | None:
        return next((n for n in self.newsletters if n.name == name), None)
