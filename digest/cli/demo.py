"""``digest demo``: the whole pipeline on the bundled demo corpus."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from datetime import UTC, date, datetime

import click

from digest.cli.app import cli, settings_of
from digest.cli.editions import print_plan
from digest.cli.ingest import print_report
from digest.cli.preview import SAMPLE, print_preview, write_preview
from digest.deliver.outbox import OutboxProvider
from digest.deliver.sender import SendReport
from digest.demo import DEMO_NEWSLETTER, DEMO_NEWSLETTERS, DEMO_SUBSCRIBERS, write_corpus
from digest.errors import PlanningError
from digest.newsletters import NewsletterConfig
from digest.runner import build_runner
from digest.slots import slot_at_or_before
from digest.store.editions import Edition
from digest.wiring import Parts, build, http_client
from subscribers.imports import import_csv

DEMO_EDITOR = "demo-editor"


@cli.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Run the pipeline on the bundled demo corpus (dated relative to today).

    Writes the Meridian Review's articles as page exports and an RSS feed under the data
    folder, ingests them, plans the demo newsletter's edition, renders it, imports the demo
    subscribers and sends it to them through the outbox (.eml files under the data folder).

    \b
    Example:
      DIGEST_DATA_DIR=/tmp/digest-demo digest demo
    """
    settings = settings_of(ctx)
    folder = settings.data_dir / "demo-corpus"
    files = write_corpus(folder, date.today(), settings.base_url)
    click.echo(f"Wrote {len(files) - 1} page exports and 1 feed into {folder}")
    with build(settings) as parts, http_client(parts) as client:
        report = parts.ingestor(client).run([str(folder)])
        print_report(report)
        stored = parts.articles.list_articles()
        config = parts.newsletters(DEMO_NEWSLETTERS)
        sections = config.get(DEMO_NEWSLETTER).section_names
        readers = import_csv(parts.subscribers, DEMO_SUBSCRIBERS, DEMO_NEWSLETTER, sections)
        edition, sent = asyncio.run(_run_scheduler_path(parts, config))
        editor_password = secrets.token_urlsafe(12)
        parts.editors().add(DEMO_EDITOR, editor_password, replace=True)
        folder = settings.data_dir / "preview" / edition.id
        preview, copy = write_preview(parts, edition, SAMPLE, folder)
    resolved = sum(1 for a in stored for r in a.related if r.target_id)
    total_refs = sum(len(a.related) for a in stored)
    per_section = Counter(a.section for a in stored)
    click.echo(
        f"\nThe store ({settings.store_url}) holds {len(stored)} articles; "
        f"{resolved} of {total_refs} related references resolved."
    )
    for section, count in sorted(per_section.items()):
        click.echo(f"  {section:<20} {count}")
    click.echo(f"\nThe demo newsletter's current edition ({DEMO_NEWSLETTERS}):\n")
    print_plan(edition.snapshot, config.get(DEMO_NEWSLETTER).zone)
    click.echo(f"\nThe email as {SAMPLE.name} gets it:")
    print_preview(preview, copy, settings.html_budget_bytes)
    click.echo(f"\nOpen {preview['files']['html']} in a browser to read it.")
    counts = sent.counts
    click.echo(
        f"\n{readers.added} demo subscribers imported ({readers.unchanged} already there). "
        f"Sent {counts.sent} messages through the outbox into {settings.outbox}; "
        f"{counts.pending} more are due later at their readers' local hour "
        f"(`digest run` delivers them when due), "
        f"{counts.skipped} skipped."
    )
    click.echo(
        f"\nEditors' preview: run `DIGEST_NEWSLETTERS_FILE={DEMO_NEWSLETTERS} digest serve` "
        f"and open {settings.public_url}/admin/ ; log in as {DEMO_EDITOR} with the password "
        f"{editor_password} (a new one each `make demo`)."
    )
    click.echo(
        "Next: `digest articles --json --limit 1` shows one article in full; "
        f"`DIGEST_NEWSLETTERS_FILE={DEMO_NEWSLETTERS} digest plan daily --json` the plan."
    )
    ctx.exit(0 if report.ok else 1)


async def _run_scheduler_path(parts: Parts, config: NewsletterConfig) -> tuple[Edition, SendReport]:
    """What `digest run` does when the demo newsletter's slot fires, once.

    The slot job plans the current slot and enrols the readers (each due at their local
    hour); one dispatch pass sends what is due. Delivery always goes to the outbox here,
    whatever DIGEST_PROVIDER says.
    """
    outbox = OutboxProvider(parts.outbox())
    runner = build_runner(parts, config, lambda _edition: outbox, asyncio.Event())
    slot = slot_at_or_before(config.get(DEMO_NEWSLETTER), datetime.now(UTC))
    run = await asyncio.to_thread(runner.keeper.plan_slot, DEMO_NEWSLETTER, slot)
    if run is None or run.edition_id is None:
        raise PlanningError(f"the demo slot {slot.isoformat()} was not planned: {run}")
    edition = parts.editions.get_by_id(run.edition_id)
    assert edition is not None
    reports = await runner.dispatch()
    mine = [report for report in reports if report.edition_id == edition.id]
    counts = mine[0].counts if mine else parts.ledger().counts(edition.id)
    return edition, SendReport(edition.id, counts, mine[0].seconds if mine else 0.0)
