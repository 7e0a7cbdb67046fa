"""``digest subscribers``: import, export, add, remove and list subscribers.

An import or an ``add`` is the publisher asserting consent given elsewhere, so the people it
names are active at once; neither ever reactivates an address that is suppressed or that
unsubscribed, bounced or complained (the rules are in ``subscribers.merge``). Export and list
read the store page by page, so a million subscribers never sit in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from digest.cli.app import cli, print_json, settings_of
from digest.cli.progress import progress
from digest.errors import ConfigError, RefusedError
from digest.newsletters import Newsletter
from digest.wiring import Parts, build
from subscribers.addresses import InvalidAddress, clean_name, normalize
from subscribers.exports import CSV_COLUMNS, csv_rows, subscriber_json, summary_json
from subscribers.imports import (
    ImportOutcome,
    ImportRow,
    RowError,
    import_csv,
    section_list,
    time_zone,
)
from subscribers.model import Source, Status, Subscriber, Subscription
from subscribers.store import Listing

REFUSALS = {
    "suppressed": "is on the suppression list (removed, bounced or complained); no import, "
    "form or API call can add it back",
    "unsubscribed": "unsubscribed from everything; only its owner can sign up again, "
    "through the subscription form",
    "bounced": "bounced; it cannot be added back (check the address with its owner)",
    "complained": "reported a newsletter as spam; it cannot be added back",
}
T = TypeVar("T")
NEWSLETTER_HELP = "The newsletter (default: the only one declared in the newsletters file)."


@cli.group("subscribers")
def subscribers_group() -> None:
    """Import, export, add, remove and list subscribers.

    \b
    Example:
      digest subscribers import readers.csv --json
      digest subscribers list --status active
    """


@subscribers_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--newsletter", metavar="NAME", help=NEWSLETTER_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the outcome.")
@click.pass_context
def import_command(ctx: click.Context, file: Path, newsletter: str | None, as_json: bool) -> None:
    """Import subscribers from a CSV file into a newsletter, active at once.

    Columns: email (required), name, sections, timezone, send_hour; header names in any
    case, with spaces or underscores; cells separated by ',' or ';'; UTF-8 with or without
    BOM. Sections inside a cell: 'Science|Culture' (or ';' in a ',' file, ',' in a ';'
    file). An empty cell leaves what is stored as it is. Every bad row is reported with its
    line and reason, and every good row is kept; importing the same file again changes
    nothing. Suppressed or unsubscribed addresses are never reactivated.
    Exit 0 when the file was read (even with rejected rows), 1 when it could not be.

    \b
    Example:
      digest subscribers import readers.csv
      digest subscribers import --newsletter weekly-science --json readers.csv
    """
    with build(settings_of(ctx)) as parts:
        declared = chosen_newsletter(parts, newsletter)
        with progress("rows imported", None, enabled=not as_json) as shown:
            outcome = import_csv(
                parts.subscribers,
                file,
                declared.name,
                declared.section_names,
                progress=shown.update,
            )
    if outcome.ignored_columns:
        click.echo(f"note: ignored columns: {', '.join(outcome.ignored_columns)}", err=True)
    if as_json:
        print_json(outcome.as_json())
    else:
        print_outcome(outcome)


def print_outcome(outcome: ImportOutcome) -> None:
    click.echo(
        f"added {outcome.added}, updated {outcome.updated}, unchanged {outcome.unchanged}; "
        f"rejected {len(outcome.rejected)}"
    )
    for rejection in sorted(outcome.rejected, key=lambda r: r.line):
        click.echo(f"rejected: line {rejection.line}: {rejection.email}: {rejection.reason}")


@subscribers_group.command()
@click.option("--csv", "form", flag_value="csv", default=True, help="CSV, one row a subscription.")
@click.option("--json", "form", flag_value="json", help="A JSON list, one object a subscriber.")
@click.option("--newsletter", metavar="NAME", help="Only this newsletter's subscribers.")
@click.pass_context
def export(ctx: click.Context, form: str, newsletter: str | None) -> None:
    """Write every subscriber with their subscriptions to standard output.

    The CSV starts with the import's columns, so an export of one newsletter re-imports
    into it unchanged; it goes on with status, the subscription's newsletter, status and
    cadence, the source and time of consent, and the created, confirmed and unsubscribed
    times. Read page by page: any number of subscribers fits.

    \b
    Example:
      digest subscribers export --newsletter daily > daily.csv
      digest subscribers export --json | jq '.[] | select(.status == "active") | .email'
    """
    with build(settings_of(ctx)) as parts:
        if newsletter is not None:
            newsletter = chosen_newsletter(parts, newsletter).name
        pages = parts.subscribers.listings(newsletter=newsletter)
        if form == "json":
            write_json_list(pages, subscriber_json)
        else:
            write_csv(pages)


def write_csv(pages: Iterator[list[Listing]]) -> None:
    """The CSV written a page at a time."""
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    for page in pages:
        out.writerows(row for person, theirs in page for row in csv_rows(person, theirs))
        click.echo(buffer.getvalue(), nl=False)
        buffer.seek(0)
        buffer.truncate()
    click.echo(buffer.getvalue(), nl=False)


def write_json_list(
    pages: Iterator[list[Listing]],
    to_json: Callable[[Subscriber, list[Subscription]], dict[str, Any]],
) -> None:
    """A JSON list written item by item, so no more than a page is ever in memory."""
    separator = "[\n"
    for page in pages:
        for person, theirs in page:
            item = orjson.dumps(to_json(person, theirs), option=orjson.OPT_INDENT_2).decode()
            click.echo(separator + item, nl=False)
            separator = ",\n"
    click.echo("[]" if separator == "[\n" else "\n]")


@subscribers_group.command()
@click.argument("email")
@click.option("--newsletter", metavar="NAME", help=NEWSLETTER_HELP)
@click.option("--name", help="Their name, as the digest greets them.")
@click.option(
    "--sections", metavar="A,B", help="Sections they get, comma-separated (default: all)."
)
@click.option("--timezone", metavar="ZONE", help="IANA time zone, such as Europe/Paris.")
@click.option("--send-hour", type=click.IntRange(0, 23), metavar="H", help="Local hour, 0 to 23.")
@click.pass_context
def add(
    ctx: click.Context,
    email: str,
    newsletter: str | None,
    name: str | None,
    sections: str | None,
    timezone: str | None,
    send_hour: int | None,
) -> None:
    """Add a subscriber, active at once: you assert they consented.

    An existing subscriber is updated with the options given (and activated if pending).
    A suppressed address, or one that unsubscribed, bounced or complained, is refused.

    \b
    Example:
      digest subscribers add ana@example.org --name "Ana Lima" --sections "Science,Culture"
      digest subscribers add bo@example.org --timezone America/New_York --send-hour 7
    """
    with build(settings_of(ctx)) as parts:
        declared = chosen_newsletter(parts, newsletter)
        row = ImportRow(
            line=0,
            email=checked(normalize, email, "EMAIL"),
            name=clean_name(name),
            sections=checked(_sections_of(declared), sections or "", "--sections"),
            timezone=checked(time_zone, timezone or "", "--timezone"),
            send_hour=send_hour,
        )
        outcome = parts.subscribers.import_batch(declared.name, [row], Source.API)
        found = parts.subscribers.find(row.email)
    if outcome.rejected:
        reason = outcome.rejected[0].reason
        why = REFUSALS.get(reason, f"{reason}; only its owner can subscribe again")
        raise RefusedError(f"{row.email} {why}; nothing was changed")
    assert found is not None
    done = "added" if outcome.added else "updated" if outcome.updated else "unchanged"
    click.echo(f"{done}: #{found.id} {found.email}, {found.status.value}, in {declared.name}")


def _sections_of(declared: Newsletter) -> Callable[[str], tuple[str, ...] | None]:
    known = {name.casefold(): name for name in declared.section_names}
    return lambda text: section_list(text, known, ",|;")


def checked(parse: Callable[[str], T], value: str, option: str) -> T:
    """``parse(value)``, with its complaint as a bad-parameter error naming the option."""
    try:
        return parse(value)
    except (RowError, InvalidAddress) as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@subscribers_group.command()
@click.argument("email")
@click.pass_context
def remove(ctx: click.Context, email: str) -> None:
    """Erase a subscriber's personal data; keep a hash so the address is not re-added.

    The subscriber, their subscriptions and history are deleted; the suppression list keeps
    only a hash of the address. An address that is not a subscriber is suppressed all the
    same, so that it cannot be added by accident later.

    \b
    Example:
      digest subscribers remove ana@example.org
    """
    address = checked(normalize, email, "EMAIL")
    with build(settings_of(ctx)) as parts:
        people = parts.subscribers
        found = people.find(address)
        earlier = people.suppression(address)
        people.remove(address)
    if found is not None:
        click.echo(f"erased subscriber #{found.id}: their data, subscriptions and history")
    elif earlier is not None:
        click.echo(f"{address} is not a subscriber; it was already suppressed ({earlier.reason})")
    else:
        click.echo(f"{address} is not a subscriber; suppressed it so it cannot be added by mistake")
    click.echo("the suppression list keeps only a hash of the address")


@subscribers_group.command("list")
@click.option(
    "--status", type=click.Choice([s.value for s in Status]), help="Only subscribers in it."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def list_command(ctx: click.Context, status: str | None, as_json: bool) -> None:
    """List subscribers in id order: id, email, name, status and newsletters.

    \b
    Example:
      digest subscribers list --status pending
      digest subscribers list --json | jq length
    """
    with build(settings_of(ctx)) as parts:
        pages = parts.subscribers.listings(status=Status(status) if status else None)
        if as_json:
            write_json_list(pages, summary_json)
            return
        shown = 0
        for page in pages:
            for person, theirs in page:
                click.echo(summary_line(person, theirs))
            shown += len(page)
    if not shown:
        click.echo(
            "no subscribers; import some with `digest subscribers import FILE.csv`", err=True
        )


def summary_line(person: Subscriber, theirs: list[Subscription]) -> str:
    newsletters = ", ".join(f"{s.newsletter} ({s.status.value})" for s in theirs) or "-"
    name = person.name or "-"
    return f"{person.id:>7}  {person.email}  {name}  {person.status.value}  {newsletters}"


def chosen_newsletter(parts: Parts, name: str | None) -> Newsletter:
    """The newsletter named by --newsletter, or the only one declared."""
    config = parts.newsletters()
    if name is None:
        if len(config.newsletters) == 1:
            return config.newsletters[0]
        raise click.UsageError(
            f"{len(config.names)} newsletters are declared ({', '.join(config.names)}); "
            "choose one with --newsletter NAME"
        )
    try:
        return config.get(name)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--newsletter") from None
