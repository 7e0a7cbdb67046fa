"""Ops commands: ``digest schedule``, ``editions``, ``edition show``, ``pause``, ``resume``
and ``retry-failed``. Each is a thin shell over ``digest.ops.Operations``, which the ops
API calls too, so the JSON printed here is the API's JSON.
"""

from __future__ import annotations

from typing import Any

import click

from digest.cli.app import cli, print_json, settings_of
from digest.wiring import build

STATUSES = ("total", "pending", "sending", "sent", "failed", "skipped", "uncertain")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def schedule(ctx: click.Context, as_json: bool) -> None:
    """Each newsletter's next slots, its last run, and whether it is paused.

    \b
    Example:
      digest schedule
      digest schedule --json
    """
    with build(settings_of(ctx)) as parts:
        entries = parts.operations(parts.newsletters()).schedule()
    if as_json:
        print_json(entries)
        return
    for entry in entries:
        paused = f"  PAUSED: {entry['pause_reason']}" if entry["paused"] else ""
        click.echo(f"{entry['name']}: {entry['cadence']} ({entry['timezone']}){paused}")
        click.echo(f"  next slots: {', '.join(entry['next_slots'])}")
        last = entry["last_run"]
        shown = f"{last['slot']} {last['outcome']}" if last else "none yet"
        detail = f" ({last['detail']})" if last and last["detail"] else ""
        click.echo(f"  last run: {shown}{detail}")


@cli.command()
@click.option("--newsletter", metavar="NAME", help="Only this newsletter's editions.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def editions(ctx: click.Context, newsletter: str | None, as_json: bool) -> None:
    """Every edition with its delivery counts (pending, sending, sent, failed, skipped).

    \b
    Example:
      digest editions --newsletter daily
      digest editions --json
    """
    with build(settings_of(ctx)) as parts:
        entries = parts.operations(parts.newsletters()).list_editions(newsletter)
    if as_json:
        print_json(entries)
        return
    if not entries:
        click.echo("no editions yet; `digest plan NEWSLETTER` or `digest run` plans them")
    for entry in entries:
        click.echo(_edition_line(entry))


@cli.group()
def edition() -> None:
    """One edition: `digest edition show ID`."""


@edition.command("show")
@click.argument("edition_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def show(ctx: click.Context, edition_id: str, as_json: bool) -> None:
    """An edition's counts by status and its failed deliveries with the provider's words.

    \b
    Example:
      digest edition show 2b9caaefc3c2fa93
      digest edition show 2b9caaefc3c2fa93 --json
    """
    with build(settings_of(ctx)) as parts:
        entry = parts.operations(parts.newsletters()).show_edition(edition_id)
    if as_json:
        print_json(entry)
        return
    click.echo(_edition_line(entry))
    for section in entry["sections"]:
        click.echo(f"  {section['name']}: {section['articles']} articles")
    for failure in entry["failures"]:
        click.echo(f"  failed {failure['email']}: {failure['error']}")


@cli.command()
@click.argument("target", metavar="NEWSLETTER-OR-EDITION")
@click.option("--reason", default="paused by ops", show_default=True, help="Shown to ops.")
@click.pass_context
def pause(ctx: click.Context, target: str, reason: str) -> None:
    """Pause a newsletter (no new slots planned, nothing sent) or one edition.

    Pending deliveries wait; batches already in flight finish.

    \b
    Example:
      digest pause daily --reason "wrong feed in Science"
      digest pause 2b9caaefc3c2fa93
    """
    with build(settings_of(ctx)) as parts:
        result = parts.operations(parts.newsletters()).pause(target, reason)
    click.echo(f"paused {_named(result)}; `digest resume {target}` lets it send again")


@cli.command()
@click.argument("target", metavar="NEWSLETTER-OR-EDITION")
@click.pass_context
def resume(ctx: click.Context, target: str) -> None:
    """Let a paused newsletter or edition send again; nothing already sent goes twice.

    \b
    Example:
      digest resume daily
    """
    with build(settings_of(ctx)) as parts:
        ops = parts.operations(parts.newsletters())
        result = ops.resume(target)
    who = ops.who_sends() if ops.queue else "`digest run` (or `digest send`) sends"
    click.echo(f"resumed {_named(result)}; {who} what is due")


@cli.command("retry-failed")
@click.argument("edition_id", metavar="EDITION")
@click.pass_context
def retry_failed(ctx: click.Context, edition_id: str) -> None:
    """Put an edition's failed deliveries back in line, due now.

    Subscribers suppressed since (a hard bounce, a complaint) are skipped when sent.

    \b
    Example:
      digest retry-failed 2b9caaefc3c2fa93 && digest send --edition 2b9caaefc3c2fa93
    """
    with build(settings_of(ctx)) as parts:
        count = parts.operations(parts.newsletters()).retry_failed(edition_id)
    click.echo(f"{count} failed deliveries of {edition_id} are pending again")


def _named(result: dict[str, Any]) -> str:
    if "newsletter" in result:
        return f"newsletter {result['newsletter']}"
    return f"edition {result['edition']}"


def _edition_line(entry: dict[str, Any]) -> str:
    counts = entry["counts"]
    number = f"#{entry['issue_number']}" if entry["issue_number"] else "(empty)"
    paused = f" PAUSED: {entry['pause_reason']}" if entry["paused"] else ""
    tallies = ", ".join(f"{name} {counts[name]}" for name in STATUSES)
    return f"{entry['id']} {entry['newsletter']} {number} {entry['slot']}: {tallies}{paused}"
