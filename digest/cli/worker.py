"""``digest worker``: run the send jobs of the queue (``DIGEST_QUEUE=procrastinate``)."""

from __future__ import annotations

import asyncio

import click

from digest.cli.app import cli, settings_of
from digest.errors import ConfigError
from digest.queue.worker import WorkerOptions, run_worker
from digest.runner import stop_on_signals
from digest.settings import Settings
from digest.wiring import Parts, build


@cli.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    help="Send batches run at once (default DIGEST_WORKER_CONCURRENCY).",
)
@click.option("--provider", metavar="NAME", help="Override DIGEST_PROVIDER for this process.")
@click.option(
    "--stalled-after",
    type=click.FloatRange(1, 3600),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="A worker silent this long is dead: its jobs go back to the queue.",
)
@click.pass_context
def worker(
    ctx: click.Context, concurrency: int | None, provider: str | None, stalled_after: float
) -> None:
    """Run the send batches that planning put on the queue, until stopped (SIGTERM or Ctrl-C).

    Needs DIGEST_QUEUE=procrastinate and the store on PostgreSQL. Run as many as you like,
    on as many machines: each batch is claimed by one of them. The first SIGTERM finishes
    the batches in flight; a second stops at once. A worker that dies mid-batch loses
    nothing: another one re-queues its jobs after --stalled-after seconds and takes its
    rows over when their lease (DIGEST_SEND_LEASE_SECONDS) runs out.

    \b
    Example:
      DIGEST_QUEUE=procrastinate digest worker --concurrency 8
      digest worker --provider postmark --stalled-after 60
    """
    settings = settings_of(ctx)
    check_queue(settings)
    options = WorkerOptions(
        concurrency=concurrency or settings.worker_concurrency,
        stalled_after=stalled_after,
        provider=provider,
    )
    with build(settings) as parts:
        asyncio.run(_worker(parts, options))


async def _worker(parts: Parts, options: WorkerOptions) -> None:
    stop = asyncio.Event()
    main = asyncio.current_task()
    assert main is not None
    stop_on_signals(stop, main)
    await run_worker(parts, parts.newsletters(), options, stop)


def check_queue(settings: Settings) -> None:
    """Refuse, naming the setting, unless the queue is on and the store is PostgreSQL."""
    if settings.queue != "procrastinate":
        raise ConfigError(
            "workers run the send jobs of DIGEST_QUEUE=procrastinate, and it is "
            f"{settings.queue!r} here: set DIGEST_QUEUE=procrastinate (with "
            "DIGEST_DATABASE_URL on PostgreSQL), or let `digest run` send in-process"
        )
    settings.queue_url()
