"""``digest send``: plan if needed, enrol the audience, send what is due, report."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import click
import httpx

from digest.cli.app import cli, print_json, settings_of
from digest.cli.progress import Display, progress
from digest.cli.queued import describe_queued, send_queued
from digest.deliver.base import Provider
from digest.deliver.enroll import enroll
from digest.deliver.providers import http_client, make_provider
from digest.deliver.sender import Sender, SendReport
from digest.errors import PlanningError
from digest.ops import Operations
from digest.render.variants import EditionRenderer
from digest.store.editions import Edition
from digest.store.ledger import Counts
from digest.wiring import Parts, build


@cli.command()
@click.argument("newsletter", required=False)
@click.option(
    "--edition", "edition_id", metavar="ID", help="Send this edition (else the current one)."
)
@click.option("--provider", metavar="NAME", help="Override DIGEST_PROVIDER for this run.")
@click.option(
    "--now",
    is_flag=True,
    help="Make every pending delivery due now, local hours or not (ops sending by hand).",
)
@click.option("--dry-run", is_flag=True, help="Enrol and render, claim and send nothing.")
@click.option(
    "--wait",
    is_flag=True,
    help="With DIGEST_QUEUE=procrastinate: follow the workers until nothing due is left.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the counts.")
@click.pass_context
def send(
    ctx: click.Context,
    newsletter: str | None,
    edition_id: str | None,
    provider: str | None,
    now: bool,
    dry_run: bool,
    wait: bool,
    as_json: bool,
) -> None:
    """Send an edition to everyone it is due for; run it again to resume.

    Plans the newsletter's current edition when needed, enrols its audience in the ledger
    (each subscriber once, due at their local hour when they chose one), then sends what is
    due through the provider. Interrupted, it picks up where it stopped.

    With DIGEST_QUEUE=procrastinate it enrols only: the send batches are queued with the
    rows, and `digest worker` processes send them (--wait follows them until nothing due
    is left; --provider and --dry-run are the in-process send's).

    \b
    Example:
      digest send daily
      digest send daily --now
      digest send --edition 2b9caaefc3c2fa93 --provider outbox --json
      DIGEST_QUEUE=procrastinate digest send daily --now --wait
    """
    if (newsletter is None) == (edition_id is None):
        raise click.UsageError("name a NEWSLETTER or give --edition ID (one of the two)")
    settings = settings_of(ctx)
    queued = settings.queue == "procrastinate"
    if queued and (provider or dry_run):
        raise click.UsageError(
            "with DIGEST_QUEUE=procrastinate the workers send, with their own DIGEST_PROVIDER, "
            "and enrolling queues the sends: --provider and --dry-run do not apply"
        )
    if wait and not queued:
        raise click.UsageError("--wait follows the workers of DIGEST_QUEUE=procrastinate")
    with build(settings) as parts:
        ops = parts.operations(parts.newsletters())
        edition = _edition(parts, ops, newsletter, edition_id)
        if queued:
            report = send_queued(ops, edition, now, wait, show=not as_json)
            _report(ctx, report, edition, as_json, describe_queued(report, wait))
            return
        stream = parts.newsletters().get(edition.newsletter).message_stream
        client = http_client(settings)
        chosen = make_provider(settings, client, provider, stream)  # a bad setting stops us here
        renderer = parts.renderer(parts.templates(), edition.snapshot)
        enroll(parts.ledger(), parts.subscribers, edition.snapshot)
        if now and not dry_run:
            ops.ledger_ops.make_due_now(edition.id)
        if edition.empty or dry_run:
            report = SendReport(edition.id, parts.ledger().counts(edition.id), 0.0)
            if dry_run and not edition.empty:
                _describe_dry_run(parts, renderer, report.counts)
        else:
            with progress("recipients done", None, enabled=not as_json) as shown:
                sender = parts.sender(renderer, chosen, progress=_counting(shown))
                sender.paused_check = lambda: ops.paused_reason(edition)
                report = asyncio.run(_run(sender, chosen, client))
    _report(ctx, report, edition, as_json)


def _report(
    ctx: click.Context, report: SendReport, edition: Edition, as_json: bool, note: str = ""
) -> None:
    if as_json:
        print_json(report.as_json())
    else:
        _print(report, edition)
        if note:
            click.echo(note)
    if report.paused:
        click.echo(f"error: the edition is paused: {report.paused}", err=True)
        ctx.exit(1)


async def _run(sender: Sender, provider: Provider, client: httpx.AsyncClient) -> SendReport:
    try:
        return await sender.run()
    finally:
        await provider.close()
        await client.aclose()


def _edition(
    parts: Parts, ops: Operations, newsletter: str | None, edition_id: str | None
) -> Edition:
    if edition_id is not None:
        found = parts.editions.get_by_id(edition_id)
        if found is None:
            raise PlanningError(f"no edition {edition_id}; `digest editions` lists them")
        return found
    assert newsletter is not None
    return ops.planner.plan(ops.config.get(newsletter).name)  # enrolled below, once


def _counting(shown: Display) -> Callable[[Counts], None]:
    """Progress in recipients done (sent, failed or skipped) of the edition's total."""

    def update(counts: Counts) -> None:
        shown.update(counts.sent + counts.failed + counts.skipped, counts.total)

    return update


def _describe_dry_run(parts: Parts, renderer: EditionRenderer, counts: Counts) -> None:
    """What a send would do: how much is due, and each variant's copies and size."""
    click.echo(
        f"dry run: {counts.due} due now, {counts.pending - counts.due} later; nothing claimed"
    )
    newsletter = renderer.snapshot["newsletter"]["name"]
    copies: Counter[tuple[str, ...]] = Counter()
    for page in parts.subscribers.audience(newsletter):
        for member in page:
            variant = renderer.variant(member.sections)
            if variant is not None:
                copies[variant.sections] += 1
    for sections, count in copies.most_common():
        variant = renderer.variant(sections)
        assert variant is not None
        trimmed = f"; trimmed: {'; '.join(variant.trimmed)}" if variant.trimmed else ""
        click.echo(f"  {count} x {', '.join(sections)}: {variant.html_bytes:,} bytes{trimmed}")


def _print(report: SendReport, edition: Edition) -> None:
    counts = report.counts
    label = f"#{edition.issue_number}" if edition.issue_number else "(empty)"
    click.echo(
        f"{edition.newsletter} {label} ({edition.id}): sent {counts.sent}, failed {counts.failed}, "
        f"skipped {counts.skipped}, pending {counts.pending + counts.sending}, "
        f"uncertain {counts.uncertain} in {report.seconds:.1f} s"
    )
