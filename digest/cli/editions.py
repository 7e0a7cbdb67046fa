"""``digest newsletters`` and ``digest plan``: the declared newsletters and their editions."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from digest.cli.app import cli, print_json, settings_of
from digest.newsletters import Newsletter
from digest.slots import next_slot
from digest.snapshot import plan_json
from digest.store.editions import Edition
from digest.wiring import build

WRAP = 88


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def newsletters(ctx: click.Context, as_json: bool) -> None:
    """List the declared newsletters with their next slot and last edition.

    Newsletters are declared in the file named by DIGEST_NEWSLETTERS_FILE.

    \b
    Example:
      digest newsletters
      DIGEST_NEWSLETTERS_FILE=newsletters.example.toml digest newsletters --json
    """
    with build(settings_of(ctx)) as parts:
        config = parts.newsletters()
        now = datetime.now(UTC)
        rows = [
            _newsletter_json(n, next_slot(n, now), parts.editions.latest(n.name))
            for n in config.newsletters
        ]
    if as_json:
        print_json(rows)
        return
    for newsletter, row in zip(config.newsletters, rows, strict=True):
        click.echo(
            f"{newsletter.name}: {newsletter.title} ({newsletter.cadence}, {newsletter.timezone})"
        )
        click.echo(f"  sections: {', '.join(row['sections'])}")
        slot = datetime.fromisoformat(row["next_slot"])
        last = row["last_edition"]
        shown = (
            f"#{last['issue_number']} for {_local(last['slot'], newsletter.zone)}"
            if last
            else "none yet"
        )
        click.echo(
            f"  next slot: {_local(slot.isoformat(), newsletter.zone)}; last edition: {shown}"
        )


def _newsletter_json(
    newsletter: Newsletter, upcoming: datetime, last: Edition | None
) -> dict[str, Any]:
    return {
        "name": newsletter.name,
        "title": newsletter.title,
        "cadence": newsletter.cadence,
        "timezone": newsletter.timezone,
        "sections": list(newsletter.section_names),
        "next_slot": upcoming.isoformat(),
        "last_edition": None
        if last is None
        else {
            "edition_id": last.id,
            "issue_number": last.issue_number,
            "slot": last.slot.isoformat(),
        },
    }


@cli.command()
@click.argument("newsletter")
@click.option(
    "--at",
    "at",
    metavar="ISO-DATETIME",
    help="Plan the slot at or before this time (default: now); without an offset it is "
    "read in the newsletter's time zone.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as one JSON object.")
@click.pass_context
def plan(ctx: click.Context, newsletter: str, at: str | None, as_json: bool) -> None:
    """Plan the edition of a newsletter's slot, or show the one already planned.

    Planning chooses each section's articles, their summaries and related links, and
    freezes them; planning the same slot again returns the same edition.

    \b
    Example:
      digest plan daily
      digest plan weekly-science --at 2026-11-30T08:00 --json
    """
    with build(settings_of(ctx)) as parts:
        config = parts.newsletters()
        declared = config.get(newsletter)
        moment = _moment(at, declared.zone) if at else None
        edition = parts.planner(config).plan(declared.name, at=moment)
    if as_json:
        print_json(plan_json(edition.snapshot))
    else:
        print_plan(edition.snapshot, declared.zone)


def _moment(text: str, zone: ZoneInfo) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO date-time such as 2026-11-30T08:00", param_hint="--at"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _local(iso: str, zone: ZoneInfo) -> str:
    moment = datetime.fromisoformat(iso)
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {zone.key} ({moment.astimezone(UTC):%H:%M} UTC)"


def print_plan(snapshot: Mapping[str, Any], zone: ZoneInfo) -> None:
    """An edition as an editor reads it: what is in, why, and what is out and why."""
    newsletter = snapshot["newsletter"]
    number = snapshot.get("issue_number")
    label = f"#{number}" if number else "(empty: not sent)"
    click.echo(f"{newsletter['title']} {label}, slot {_local(snapshot['slot'], zone)}")
    window = snapshot["window"]
    click.echo(f"window: {_local(window['start'], zone)} to {_local(window['end'], zone)}")
    if snapshot["empty"]:
        click.echo("No article in any section: this edition is not sent.")
    for section in snapshot["sections"]:
        click.echo(f"\n== {section['name']} ==")
        for article in section["articles"]:
            _print_article(article)
    if snapshot["excluded"]:
        click.echo("\nLeft out:")
        for item in snapshot["excluded"]:
            click.echo(f"  - {item['title']} [{item['section']}]: {item['reason']}")


def _print_article(article: Mapping[str, Any]) -> None:
    badge = " [from the archive]" if article["archive"] else ""
    click.echo(f"* {article['title']}{badge}")
    byline = ", ".join(
        part
        for part in (
            article["author"],
            (article["published_at"] or "")[:10],
            f"{article['read_minutes']} min" if article["read_minutes"] else "",
        )
        if part
    )
    if byline:
        click.echo(f"  {byline}")
    if article["summary"]:
        click.echo(textwrap.indent(textwrap.fill(article["summary"], WRAP - 2), "  "))
    for related in article["related"]:
        click.echo(f"  related: {related['title']} <{related['url']}>")
    click.echo(f"  why: {article['reason']}")
