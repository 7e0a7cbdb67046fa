"""The newsletters file's schema: which keys each table has and what they may hold.

Computes only. ``read_config`` walks the parsed TOML, records every problem with its line
through ``config_checks``, and builds the ``newsletter_model`` values when all is well.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from email_validator import EmailNotValidError, validate_email
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from digest.config_checks import (
    Checker,
    Table,
    found_instead,
    kind_of,
    read_boolean,
    read_choice,
    read_integer,
    read_subtable,
    read_table_list,
    read_text,
)
from digest.newsletter_model import (
    APPROVALS,
    DEFAULT_APPROVAL_DEADLINE_MINUTES,
    DEFAULT_GRACE_MINUTES,
    DEFAULT_MAX_AGE_DAYS,
    DEFAULT_MAXIMUM,
    DEFAULT_SUBJECT,
    DEFAULT_TEMPLATE,
    DEFAULT_WINDOW_DAYS,
    Approval,
    Evergreen,
    Newsletter,
    NewsletterConfig,
    Publication,
    SectionConfig,
)
from digest.slots import cadence_trigger
from digest.toml_lines import KeyPath

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")

_PUBLICATION_KEYS = ("name", "sections", "postal_address")
_NEWSLETTER_KEYS = (
    "name",
    "title",
    "sender_name",
    "sender_address",
    "reply_to",
    "timezone",
    "cadence",
    "template",
    "subject",
    "preheader",
    "window_days",
    "since_previous",
    "grace_minutes",
    "evergreen",
    "utm",
    "weekly_rollup",
    "message_stream",
    "approval",
    "approval_deadline_minutes",
    "sections",
)
_EVERGREEN_KEYS = ("minimum", "max_age_days")
_UTM_KEYS = ("source", "medium", "campaign")
_UTM_VALUE = re.compile(r"^[A-Za-z0-9._~-]{1,100}$")
_SECTION_KEYS = ("name", "maximum", "minimum")
_TOP_KEYS = ("publication", "newsletter")

T = TypeVar("T")


def read_config(checker: Checker, data: Mapping[str, Any]) -> NewsletterConfig | None:
    for key in data:
        if key not in _TOP_KEYS:
            close = difflib.get_close_matches(key, _TOP_KEYS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            checker.fail(
                (key,),
                "",
                f"unknown key or table {key!r}; {hint}the file holds one [publication] table"
                " and [[newsletter]] tables",
            )

    publication = _read_publication(checker, data)

    newsletters: list[Newsletter] = []
    if "newsletter" not in data:
        checker.fail(
            (),
            "",
            "no newsletter declared; add a [[newsletter]] table (see newsletters.example.toml)",
        )
    else:
        raw = read_table_list(
            data,
            "newsletter",
            fail=lambda message: checker.fail(("newsletter",), "newsletter", message),
            header="[[newsletter]]",
        )
        names: dict[str, int] = {}
        for index, item in enumerate(raw or []):
            newsletter = _read_newsletter(checker, item, index, publication, names)
            if newsletter is not None:
                newsletters.append(newsletter)
        if raw == []:
            checker.fail(("newsletter",), "newsletter", "declare at least one [[newsletter]]")

    if publication is None or checker.count:
        return None
    return NewsletterConfig(publication, tuple(newsletters), checker.path)


def _read_publication(checker: Checker, data: Mapping[str, Any]) -> Publication | None:
    if "publication" not in data:
        checker.fail(
            (),
            "",
            "no [publication] table; add one with name, sections and postal_address"
            " (see newsletters.example.toml)",
        )
        return None
    raw = data["publication"]
    if not isinstance(raw, dict):
        checker.fail(
            ("publication",),
            "publication",
            f"must be a table written [publication], got {kind_of(raw)}",
        )
        return None
    before = checker.count
    table = Table(checker, raw, ("publication",), "", "publication.", "[publication]")
    table.check_keys(_PUBLICATION_KEYS)
    name = read_text(table, "name", example='"The Meridian Review"')
    address = read_text(
        table, "postal_address", example='"1 Harbour Street, Portsmouth, United Kingdom"'
    )
    sections = _publication_sections(table)
    if checker.count > before or name is None or address is None or sections is None:
        return None
    return Publication(name=name, sections=sections, postal_address=address)


def _publication_sections(table: Table) -> tuple[str, ...] | None:
    example = '["Political history", "Science"]'
    if not table.has("sections"):
        table.missing("sections", example)
        return None
    value = table.get("sections")
    if not isinstance(value, list) or not value:
        shown = "an empty array" if value == [] else found_instead(value)
        table.fail(
            "sections",
            f"must be a non-empty array of section names, got {shown}; write sections = {example}",
        )
        return None
    seen: dict[str, int] = {}
    names: list[str] = []
    for index, item in enumerate(value):
        label = f"sections[{index}]"
        if not isinstance(item, str) or not item.strip():
            table.fail(
                label,
                f"must be a section name, got {found_instead(item)}",
                at=(*table.at("sections"), index),
            )
            continue
        name = item.strip()
        folded = name.casefold()
        if folded in seen:
            table.fail(
                label,
                f"{name!r} is listed twice (also sections[{seen[folded]}], letter case aside);"
                " list each section once",
                at=(*table.at("sections"), index),
            )
            continue
        seen[folded] = index
        names.append(name)
    return tuple(names) if len(names) == len(value) else None


def _read_newsletter(
    checker: Checker,
    raw: Mapping[str, Any],
    index: int,
    publication: Publication | None,
    names: dict[str, int],
) -> Newsletter | None:
    path: KeyPath = ("newsletter", index)
    before = checker.count
    raw_name = raw.get("name")
    valid_name = isinstance(raw_name, str) and _SLUG.match(raw_name) is not None
    owner = f"newsletter {raw_name!r}" if valid_name else f"newsletter[{index}]"
    table = Table(checker, raw, path, owner, "", "[[newsletter]]")
    table.check_keys(_NEWSLETTER_KEYS)

    name = read_text(table, "name", example='"daily"')
    if name is not None and not _SLUG.match(name):
        suggestion = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "daily"
        table.fail(
            "name",
            f"{name!r} is not a valid name; use lowercase letters, digits and hyphens,"
            f" e.g. {suggestion!r}",
        )
    elif name is not None:
        if name in names:
            first_line = checker.lines.line_of(("newsletter", names[name], "name"))
            table.fail(
                "name",
                f"{name!r} is already the name of newsletter[{names[name]}]"
                f" (line {first_line}); give each newsletter its own name",
            )
        else:
            names[name] = index

    title = read_text(table, "title", example='"The Meridian Daily"')
    sender_name = read_text(table, "sender_name", example='"The Meridian Review"')
    sender_address = _email(table, "sender_address", required=True)
    reply_to = _email(table, "reply_to", required=False)
    timezone = _zone(table)
    cadence = _cadence(table)
    template = read_text(
        table, "template", example='"digest"', default=DEFAULT_TEMPLATE, required=False
    )
    if template is not None and table.has("template") and not _TEMPLATE_NAME.match(template):
        table.fail(
            "template",
            f"{template!r} is not a template name; use letters, digits, hyphens and"
            ' underscores, e.g. "digest"',
        )
    subject = _pattern(table, "subject", default=DEFAULT_SUBJECT, allow_empty=False)
    preheader = _pattern(table, "preheader", default="", allow_empty=True)
    window_days = read_integer(table, "window_days", default=DEFAULT_WINDOW_DAYS, low=1, high=366)
    since_previous = read_boolean(table, "since_previous", default=True)
    grace_minutes = read_integer(
        table, "grace_minutes", default=DEFAULT_GRACE_MINUTES, low=0, high=10080
    )
    evergreen = _evergreen(table) if table.has("evergreen") else None
    utm = _utm(table, name) if table.has("utm") else None
    weekly_rollup = _cadence(table, "weekly_rollup", required=False)
    message_stream = read_text(table, "message_stream", example='"broadcast"', required=False)
    approval, deadline = _approval(table)
    sections = _sections(table, publication, evergreen)

    if (
        checker.count > before
        or name is None
        or title is None
        or sender_name is None
        or sender_address is None
        or timezone is None
        or cadence is None
    ):
        return None
    return Newsletter(
        name=name,
        title=title,
        sender_name=sender_name,
        sender_address=sender_address,
        reply_to=reply_to,
        timezone=timezone,
        cadence=cadence,
        template=template or DEFAULT_TEMPLATE,
        subject=subject,
        preheader=preheader,
        window_days=_given(window_days),
        since_previous=since_previous,
        grace_minutes=_given(grace_minutes),
        evergreen=evergreen,
        utm=utm,
        weekly_rollup=weekly_rollup,
        message_stream=message_stream,
        approval=approval,
        approval_deadline_minutes=deadline,
        sections=sections,
    )


def _given(value: T | None) -> T:
    assert value is not None
    return value


def _approval(table: Table) -> tuple[Approval, int]:
    """Whether editions wait for an editor's approval, and the deadline's minutes."""
    chosen = read_choice(table, "approval", choices=APPROVALS, default="none")
    # the Literal back from the tuple it was checked against
    approval: Approval = next((c for c in APPROVALS if c == chosen), "none")
    deadline = read_integer(
        table,
        "approval_deadline_minutes",
        default=DEFAULT_APPROVAL_DEADLINE_MINUTES,
        low=0,
        high=10080,
    )
    if table.has("approval_deadline_minutes") and approval != "deadline":
        table.fail(
            "approval_deadline_minutes",
            'has no effect unless approval = "deadline"; set that or remove the deadline',
        )
    return approval, _given(deadline)


def _email(table: Table, key: str, *, required: bool) -> str | None:
    example = '"editors@example.com"'
    value = read_text(table, key, example=example, required=required)
    if value is None:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        table.fail(key, f"{value!r} is not a valid email address: {exc} Write it like {example}")
        return None


def _zone(table: Table) -> str | None:
    value = read_text(table, "timezone", example='"Europe/Paris"')
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(value, _zone_names(), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        table.fail(
            "timezone",
            f"unknown time zone {value!r}; {hint}use an IANA name like"
            ' "Europe/Paris" or "America/New_York"',
        )
        return None
    return value


def _zone_names() -> list[str]:
    return sorted(available_timezones())


def _cadence(table: Table, key: str = "cadence", required: bool = True) -> str | None:
    value = read_text(table, key, example='"0 7 * * *"', required=required)
    if value is None:
        return None
    try:
        cadence_trigger(value)
    except ValueError as exc:
        table.fail(
            key,
            f'invalid crontab {value!r}: {exc}; write it like "0 7 * * *" (07:00 daily)'
            ' or "0 8 * * 1" (Mondays 08:00)',
        )
        return None
    return " ".join(value.split())


def _pattern(table: Table, key: str, *, default: str, allow_empty: bool) -> str:
    value = read_text(
        table,
        key,
        example=f'"{default or "{{ newsletter.title }}"}"',
        default=default,
        required=False,
        allow_empty=allow_empty,
    )
    if value is None:
        return default
    try:
        SandboxedEnvironment().parse(value)
    except TemplateSyntaxError as exc:
        table.fail(
            key,
            f"not a valid template: {exc.message} (template line {exc.lineno});"
            " fix the {{ ... }} or {% ... %} markup",
        )
        return default
    return value


def _evergreen(table: Table) -> Evergreen | None:
    raw = read_subtable(table, "evergreen")
    if raw is None:
        return None
    before = table.checker.count
    sub = Table(
        table.checker,
        raw,
        table.at("evergreen"),
        table.owner,
        "evergreen.",
        "[newsletter.evergreen]",
    )
    sub.check_keys(_EVERGREEN_KEYS)
    minimum: int | None = None
    if not sub.has("minimum"):
        sub.missing("minimum", "2")
    else:
        minimum = read_integer(sub, "minimum", default=None, low=1, high=50)
    max_age = read_integer(sub, "max_age_days", default=DEFAULT_MAX_AGE_DAYS, low=1, high=3650)
    if table.checker.count > before or minimum is None or max_age is None:
        return None
    return Evergreen(minimum=minimum, max_age_days=max_age)


def _utm(table: Table, newsletter: str | None) -> dict[str, str] | None:
    """UTM parameters for article links; the campaign defaults to the newsletter's name."""
    raw = read_subtable(table, "utm")
    if raw is None:
        return None
    sub = Table(table.checker, raw, table.at("utm"), table.owner, "utm.", "[newsletter.utm]")
    sub.check_keys(_UTM_KEYS)
    values = {"source": "newsletter", "medium": "email", "campaign": newsletter or "digest"}
    for key in _UTM_KEYS:
        value = read_text(sub, key, example='"newsletter"', required=False)
        if value is None:
            continue
        if not _UTM_VALUE.match(value):
            sub.fail(key, f"{value!r}: use letters, digits, '.', '_', '~' or '-' (at most 100)")
            continue
        values[key] = value
    return values


def _sections(
    table: Table, publication: Publication | None, evergreen: Evergreen | None
) -> tuple[SectionConfig, ...]:
    if not table.has("sections"):
        table.checker.fail(
            table.path,
            table.label("sections"),
            "missing; add at least one [[newsletter.sections]] table with a name"
            " after this [[newsletter]]",
        )
        return ()
    raw = read_table_list(
        table.data,
        "sections",
        fail=lambda message: table.fail("sections", message),
        header="[[newsletter.sections]]",
    )
    if raw is None:
        return ()
    if not raw:
        table.fail("sections", "is empty; add at least one [[newsletter.sections]] table")
        return ()
    seen: dict[str, int] = {}
    sections: list[SectionConfig] = []
    for index, item in enumerate(raw):
        sub = Table(
            table.checker,
            item,
            (*table.at("sections"), index),
            table.owner,
            f"sections[{index}].",
            "[[newsletter.sections]]",
        )
        sub.check_keys(_SECTION_KEYS)
        name = read_text(sub, "name", example='"Science"')
        maximum = read_integer(sub, "maximum", default=DEFAULT_MAXIMUM, low=1, high=50)
        minimum = read_integer(sub, "minimum", default=None, low=0, high=50)
        if name is not None and publication is not None:
            canonical = publication.section_named(name)
            if canonical is None:
                sub.fail(
                    "name",
                    f"unknown section {name!r}; the publication's sections are:"
                    f" {', '.join(publication.sections)} (add it to [publication] sections"
                    " or fix the name)",
                )
                name = None
            elif canonical.casefold() in seen:
                sub.fail(
                    "name",
                    f"section {canonical!r} is already sections[{seen[canonical.casefold()]}]"
                    " of this newsletter; list each section once",
                )
                name = None
            else:
                seen[canonical.casefold()] = index
                name = canonical
        if minimum and not table.has("evergreen"):
            sub.fail(
                "minimum",
                "has no effect without evergreen fill; add a [newsletter.evergreen] table to"
                " this newsletter or remove the minimum",
            )
        effective = minimum if minimum is not None else (evergreen.minimum if evergreen else 0)
        if maximum is not None and effective > maximum:
            source = "minimum" if minimum is not None else "evergreen.minimum"
            sub.fail(
                "minimum" if minimum is not None else "maximum",
                f"{source} ({effective}) is above maximum ({maximum}); raise the maximum"
                " or set a lower minimum for this section",
            )
        if name is not None and maximum is not None:
            sections.append(SectionConfig(name=name, maximum=maximum, minimum=minimum))
    return tuple(sections)
