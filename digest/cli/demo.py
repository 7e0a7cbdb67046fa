"""``digest demo``: the whole pipeline on the bundled demo corpus."""

from __future__ import annotations

from collections import Counter
from datetime import date

import click

from digest.cli.app import cli, settings_of
from digest.cli.editions import print_plan
from digest.cli.ingest import print_report
from digest.cli.preview import SAMPLE, print_preview, write_preview
from digest.demo import DEMO_NEWSLETTER, DEMO_NEWSLETTERS, write_corpus
from digest.wiring import build, http_client


@cli.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Run the pipeline on the bundled demo corpus (dated relative to today).

    Writes the Meridian Review's articles as page exports and an RSS feed under the data
    folder, ingests them, and lists what the store now holds.

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
        edition = parts.planner(config).plan(DEMO_NEWSLETTER)
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
    click.echo(
        "Next: `digest articles --json --limit 1` shows one article in full; "
        f"`DIGEST_NEWSLETTERS_FILE={DEMO_NEWSLETTERS} digest plan daily --json` the plan."
    )
    ctx.exit(0 if report.ok else 1)
