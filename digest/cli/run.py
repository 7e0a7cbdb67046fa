"""``digest run``: the long-running process that plans every slot and sends what is due."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import click
from prometheus_client import start_http_server

from digest.cli.app import cli, print_json, settings_of
from digest.cli.worker import check_queue
from digest.deliver.base import Provider
from digest.deliver.providers import http_client, make_provider
from digest.deliver.sender import SendReport
from digest.newsletters import NewsletterConfig
from digest.observe.metrics import Metrics
from digest.observe.store_metrics import StoreMetricsSource
from digest.queue.worker import WorkerOptions, run_worker
from digest.runner import Runner, build_runner, stop_on_signals
from digest.schedule import MissedHook
from digest.settings import Settings
from digest.store.editions import Edition
from digest.store.runs import SlotOutcome, SlotRun
from digest.wiring import Parts, build


@cli.command()
@click.option("--provider", metavar="NAME", help="Override DIGEST_PROVIDER for this process.")
@click.option(
    "--once",
    is_flag=True,
    help="Catch every newsletter up and send what is due now, then exit (for cron or a test).",
)
@click.option("--json", "as_json", is_flag=True, help="With --once: print what was done.")
@click.option(
    "--with-worker",
    is_flag=True,
    help="With DIGEST_QUEUE=procrastinate: also run a send worker in this process.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="Serve this process's metrics (provider calls, latency, alerts) on 127.0.0.1:PORT.",
)
@click.pass_context
def run(
    ctx: click.Context,
    provider: str | None,
    once: bool,
    as_json: bool,
    with_worker: bool,
    metrics_port: int | None,
) -> None:
    """Run the scheduler and the send workers until stopped (SIGTERM or Ctrl-C).

    Each newsletter's slot plans its edition and enrols its subscribers, each due at their
    local hour; deliveries go out as they fall due. Slots missed while the process was down
    go out late within the newsletter's grace_minutes, else are recorded as missed. The
    first SIGTERM finishes the batches in flight; a second stops at once. Any number of
    these processes may share one PostgreSQL database: nothing is sent twice.

    With DIGEST_QUEUE=procrastinate this process plans and enqueues the send batches
    (in the transactions that enrol the subscribers) and `digest worker` processes send
    them; --with-worker runs one here too.

    \b
    Example:
      digest run --metrics-port 9108
      DIGEST_PROVIDER=postmark digest run --once --json
      DIGEST_QUEUE=procrastinate digest run --with-worker
    """
    settings = settings_of(ctx)
    if with_worker and once:
        raise click.UsageError("--with-worker runs until stopped; it does not go with --once")
    if with_worker:
        check_queue(settings)
    with build(settings) as parts:
        config = parts.newsletters()
        make_provider(settings, http_client(settings), provider)  # a bad setting stops us now
        metrics = Metrics(StoreMetricsSource(parts.engine, parts.queue_view()))
        if metrics_port is not None:
            start_http_server(metrics_port, addr="127.0.0.1", registry=metrics.registry)
        worker = (
            WorkerOptions(settings.worker_concurrency, provider=provider) if with_worker else None
        )
        summary = asyncio.run(_run(parts, config, settings, provider, once, metrics, worker))
    if once and as_json:
        print_json(summary)
    elif once and settings.queue == "procrastinate":
        click.echo(
            f"planned {len(summary['planned'])}, missed {len(summary['missed'])}; "
            "their batches are queued for `digest worker` (DIGEST_QUEUE=procrastinate)"
        )
    elif once:
        click.echo(
            f"planned {len(summary['planned'])}, missed {len(summary['missed'])}; "
            f"sent {summary['sent']}, failed {summary['failed']}, "
            f"waiting for their hour {summary['pending']}"
        )


async def _run(
    parts: Parts,
    config: NewsletterConfig,
    settings: Settings,
    name: str | None,
    once: bool,
    metrics: Metrics,
    worker: WorkerOptions | None = None,
) -> dict[str, Any]:
    client = http_client(settings)
    stop = asyncio.Event()

    def provider_for(edition: Edition) -> Provider:
        newsletter = config.get_or_none(edition.newsletter)
        stream = newsletter.message_stream if newsletter else None
        return make_provider(settings, client, name, stream, observer=metrics.on_call)

    runner = build_runner(
        parts, config, provider_for, stop, alerts=metrics, on_missed=_misfire(metrics)
    )
    try:
        if once:
            return _summary(*await runner.tick())
        main = asyncio.current_task()
        assert main is not None
        stop_on_signals(stop, main)
        if worker is None:
            await runner.run_forever()
        else:
            working = run_worker(parts, config, worker, stop, alerts=metrics)
            await _with_worker(runner, working, stop)
        return {}
    finally:
        await client.aclose()


async def _with_worker(runner: Runner, worker: Awaitable[None], stop: asyncio.Event) -> None:
    """The scheduler and a send worker side by side; either one ending stops the other."""

    async def scheduler() -> None:
        try:
            await runner.run_forever()
        finally:
            stop.set()

    await asyncio.gather(scheduler(), worker)


def _misfire(metrics: Metrics) -> MissedHook:
    return lambda newsletter, _slot: metrics.misfire(newsletter)


def _summary(runs: list[SlotRun], reports: list[SendReport]) -> dict[str, Any]:
    return {
        "planned": [r.edition_id for r in runs if r.edition_id],
        "missed": [r.slot.isoformat() for r in runs if r.outcome is SlotOutcome.MISSED],
        "sent": sum(r.counts.sent for r in reports),
        "failed": sum(r.counts.failed for r in reports),
        "pending": sum(r.counts.pending for r in reports),
        "editions": [r.as_json() for r in reports],
    }
