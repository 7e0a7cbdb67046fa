"""``digest ingest``: sources into the store."""

from __future__ import annotations

import click

from digest.cli.app import cli, print_json, settings_of
from digest.cli.progress import progress
from digest.ingest import IngestReport
from digest.wiring import build, http_client


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--section", metavar="NAME", help="Section of items whose source names none.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the counts.")
@click.pass_context
def ingest(
    ctx: click.Context, sources: tuple[str, ...], section: str | None, as_json: bool
) -> None:
    """Read articles from files, folders and http(s) URLs into the store.

    The format of each source is detected: RSS/Atom/JSON feeds, HTML article pages and
    plain-text page exports. Ingesting the same article twice changes nothing; a changed
    one is updated in place. Exit 0 when every source was read, 1 when any could not be.

    \b
    Example:
      digest ingest --json ../shared/seed/ https://example.com/feed.xml
      digest ingest --section Science science-feed.xml
    """
    with (
        build(settings_of(ctx)) as parts,
        http_client(parts) as client,
        progress("documents ingested", None, enabled=not as_json) as shown,
    ):
        report = parts.ingestor(client).run(sources, section=section, progress=shown.update)
    if as_json:
        print_json(report.as_json())
    else:
        print_report(report)
    ctx.exit(0 if report.ok else 1)


def print_report(report: IngestReport) -> None:
    counts = report.as_json()
    click.echo(
        f"added {counts['added']}, updated {counts['updated']}, unchanged {counts['unchanged']}; "
        f"rejected {len(report.rejected)}, failed sources {len(report.failed_sources)}"
    )
    for rejection in report.rejected:
        click.echo(f"rejected: {rejection.source}: {rejection.item}: {rejection.reason}", err=True)
    for notice in report.failed_sources:
        click.echo(f"failed: {notice.source}: {notice.reason}", err=True)
    for notice in report.warnings:
        click.echo(f"warning: {notice.source}: {notice.reason}", err=True)
