"""``digest queue``: the send queue as ops see it (``digest.queue.status``), as the ops API's
``GET /api/queue`` and ``/metrics`` see it too."""

from __future__ import annotations

import click

from digest.cli.app import cli, print_json, settings_of
from digest.queue.status import MINUTES, QueuedJob, QueueStatus
from digest.wiring import build


@cli.command("queue")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--minutes",
    type=click.IntRange(1, 1440),
    default=MINUTES,
    show_default=True,
    help="The window of each worker's throughput.",
)
@click.pass_context
def queue(ctx: click.Context, as_json: bool, minutes: int) -> None:
    """The send queue: jobs due now, scheduled for later, running and failed; the workers
    by heartbeat; each worker's recipients and batches per minute.

    Needs DIGEST_QUEUE=procrastinate and the store on PostgreSQL; otherwise it says the
    queue is off (`digest run` then sends in-process).

    \b
    Example:
      digest queue
      digest queue --json --minutes 15
    """
    with build(settings_of(ctx)) as parts:
        status = parts.queue_view().status(minutes)
    if as_json:
        print_json(status.as_json())
        return
    for line in describe(status):
        click.echo(line)


def describe(status: QueueStatus) -> list[str]:
    """The status in lines for a terminal."""
    if not status.enabled:
        return [status.note or "the queue is off"]
    jobs = status.jobs
    lines = [
        f"jobs: {jobs.due} due, {jobs.scheduled} scheduled for later, "
        f"{jobs.running} running, {jobs.failed} failed",
        f"workers: {status.live_workers} live of {len(status.workers)}",
    ]
    for worker in status.workers:
        silent = "" if worker.live else " (silent: taken for dead)"
        lines.append(
            f"  worker {worker.id}: heartbeat {worker.seconds_since_heartbeat:.0f} s ago"
            f"{silent}, {worker.running} running"
        )
    lines += [f"  running {_job(job)}, since {job.at or '?'}" for job in status.running]
    lines += [f"  failed {_job(job)}, at {job.at or '?'}" for job in status.failed]
    if status.failed:
        lines.append("  (procrastinate keeps no error text: the worker's log has it)")
    lines.append(f"throughput over the last {status.minutes} minutes:")
    lines += [
        f"  {t.worker}: {t.recipients_per_minute:g} recipients/min, "
        f"{t.batches_per_minute:g} batches/min"
        for t in status.throughput
    ] or ["  nothing sent"]
    return lines


def _job(job: QueuedJob) -> str:
    worker = f", worker {job.worker_id}" if job.worker_id is not None else ""
    return (
        f"job {job.id}: edition {job.edition_id} rows {job.first_id}-{job.last_id}, "
        f"{job.attempts} earlier attempts{worker}"
    )
