"""The send loop: claim due ledger rows, render their copies, hand them to the provider.

Orchestrates; I/O through the ledger, the subscriber store and the provider handed in.
Database calls run in a worker thread so that several batches can be on the wire at once.

One pass of ``Sender.run``:

1. take over rows whose lease expired while sending (a crash): with an idempotent provider
   they go out again as the very same batch (same key); otherwise the uncertain policy
   decides between sending again (nothing lost) and marking them for review;
2. claim up to a provider batch of due pending rows, check each subscriber still receives
   the newsletter (unsubscribes and bounces since the ledger was made skip the row), group
   them by variant, and send each group; record every row's result;
3. repeat until nothing is due, keeping ``concurrency`` batches in flight.

A queued job (``DIGEST_QUEUE=procrastinate``) runs ``Sender.send_range`` instead: the same
take-over of uncertain rows and the same per-batch path (``_send_claimed``), on the rows of
the job's id range only, one claim after another, each row at most once per run.

An edition pauses itself when the provider refuses our key, or after
``pause_after_failures`` batches in a row delivered nothing; a paused edition claims nothing
until it is resumed, and what was claimed goes back to pending. The run of failed batches is
counted in the store (``Ledger.count_batch``), not by one sender: on the queue each batch
is a job of its own, on any worker, and the count must see them all.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from digest.deliver.base import Batch, Envelope, Outcome, Provider, Result
from digest.errors import ProviderAuthError, ProviderConfigError
from digest.render.copies import edition_headers, sender_domain
from digest.render.links import LinkBuilder
from digest.render.message import make_message_id
from digest.render.personal import Recipient, personal_values
from digest.render.variants import EditionRenderer, Variant
from digest.store.ledger import Claimed, Counts, IdSpan, Ledger, RangeLeft
from subscribers.model import AudienceMember

Clock = Callable[[], datetime]
Progress = Callable[[Counts], None]
UncertainPolicy = Literal["resend", "review"]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Audience(Protocol):
    """What the sender needs of the subscriber store."""

    def still_receiving(
        self, newsletter: str, subscriber_ids: Sequence[int]
    ) -> Mapping[int, AudienceMember]: ...


@dataclass(frozen=True, slots=True)
class SendOptions:
    lease: timedelta = timedelta(minutes=5)
    concurrency: int = 4
    pause_after_failures: int = 5
    uncertain_policy: UncertainPolicy = "resend"


@dataclass(frozen=True, slots=True)
class SendReport:
    edition_id: str
    counts: Counts
    seconds: float
    paused: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "edition_id": self.edition_id,
            "sent": self.counts.sent,
            "failed": self.counts.failed,
            "skipped": self.counts.skipped,
            "pending": self.counts.pending + self.counts.sending,
            "uncertain": self.counts.uncertain,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class RangeReport:
    """What one run of a queued job did, and what its range still holds."""

    claims: int
    sent: int
    left: RangeLeft
    paused: str | None = None
    paused_here: bool = False
    """This run paused the edition itself (failed batches, a refused key): its to alert."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class EditionPaused(Exception):
    """Raised inside the loop to stop claiming; carries the reason."""


@dataclass
class Sender:
    ledger: Ledger
    audience: Audience
    provider: Provider
    renderer: EditionRenderer
    links: LinkBuilder
    options: SendOptions = SendOptions()
    clock: Clock = utc_now
    progress: Progress | None = None
    stop: asyncio.Event | None = None
    """Set (by SIGTERM in ``digest run``): claim nothing more, finish the batches in flight."""
    paused_check: Callable[[], str | None] | None = None
    """Why the edition may not send now, asked before every claim (default: its own pause)."""

    def __post_init__(self) -> None:
        self.owner = worker_name()
        snapshot = self.renderer.snapshot
        self.edition_id: str = snapshot["edition_id"]
        self.newsletter: str = snapshot["newsletter"]["name"]
        self.domain = sender_domain(snapshot["newsletter"]["sender_address"])
        self._sent = 0
        self._paused_here = False

    async def run(self) -> SendReport:
        started = self.clock()
        paused = await asyncio.to_thread(self._paused_reason)
        if paused is None:
            try:
                await self._recover()
                await self._send_due()
            except EditionPaused as stop:
                paused = str(stop)
        counts = await asyncio.to_thread(self.ledger.counts, self.edition_id)
        seconds = (self.clock() - started).total_seconds()
        return SendReport(self.edition_id, counts, seconds, paused)

    async def send_range(self, span: IdSpan) -> RangeReport:
        """A queued job's work: the rows of ``span``, claimed a provider batch at a time.

        Rows whose lease ran out are taken over as in ``run``; due pending rows are claimed
        in id order, each claim starting after the last one, so a row released for a retry
        (throttled, a server error) waits for the job's next attempt instead of being sent
        again at once. The report says what the range still holds, for the job to decide
        whether it is done.
        """
        claims, cursor, paused = 0, span.first_id, None
        try:
            while cursor <= span.last_id:
                reason = await asyncio.to_thread(self._paused_reason)
                if reason is not None:
                    raise EditionPaused(reason)
                claim = await asyncio.to_thread(
                    self.ledger.claim_range,
                    self.edition_id,
                    IdSpan(cursor, span.last_id),
                    self.owner,
                    self.provider.max_batch,
                    self.options.lease,
                    uuid.uuid4().hex,
                )
                if not claim.taken_over and not claim.due:
                    break
                claims += 1
                await self._take_over(claim.taken_over)
                if claim.due:
                    cursor = claim.due[-1].id + 1
                    await self._send_claimed(claim.due)
        except EditionPaused as stop:
            paused = str(stop)
        left = await asyncio.to_thread(self.ledger.left_in_range, self.edition_id, span)
        return RangeReport(claims, self._sent, left, paused, self._paused_here)

    # -- the loop ---------------------------------------------------------------------------

    async def _recover(self) -> None:
        reclaimed = await asyncio.to_thread(
            self.ledger.reclaim_expired, self.edition_id, self.owner, self.options.lease
        )
        await self._take_over(reclaimed)

    async def _take_over(self, reclaimed: Sequence[Claimed]) -> None:
        """Rows found mid-send after a crash: the same batches again (same key) where that
        is safe or the policy says so, else failed for ops to review."""
        by_batch: dict[str, list[Claimed]] = {}
        for row in reclaimed:
            by_batch.setdefault(row.batch_key, []).append(row)
        for rows in by_batch.values():
            if self.provider.idempotent or self.options.uncertain_policy == "resend":
                await self._send_claimed(rows)
            else:
                review = "uncertain after a crash: it may or may not have been sent; review it"
                await asyncio.to_thread(
                    self.ledger.mark_failed, self.owner, [(r.id, review) for r in rows]
                )

    async def _send_due(self) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while self.stop is None or not self.stop.is_set():
                reason = await asyncio.to_thread(self._paused_reason)
                if reason is not None:  # ops paused it (or its newsletter) while it was sending
                    raise EditionPaused(reason)
                claimed = await asyncio.to_thread(
                    self.ledger.claim,
                    self.edition_id,
                    self.owner,
                    self.provider.max_batch,
                    self.options.lease,
                    uuid.uuid4().hex,
                )
                if not claimed:
                    break
                in_flight.add(asyncio.create_task(self._send_claimed(claimed)))
                if len(in_flight) >= self.options.concurrency:
                    done, in_flight = await asyncio.wait(
                        in_flight, return_when=asyncio.FIRST_COMPLETED
                    )
                    for task in done:
                        task.result()
        finally:
            if in_flight:
                results = await asyncio.gather(*in_flight, return_exceptions=True)
                stops = [r for r in results if isinstance(r, BaseException)]
                if stops:
                    raise stops[0]

    def _paused_reason(self) -> str | None:
        if self.paused_check is not None:
            return self.paused_check()
        state = self.ledger.state(self.edition_id)
        return (state.reason or "paused") if state.paused else None

    async def _send_claimed(self, claimed: Sequence[Claimed]) -> None:
        ids = [row.subscriber_id for row in claimed]
        members = await asyncio.to_thread(self.audience.still_receiving, self.newsletter, ids)
        batches, skipped = self._batches(claimed, members)
        if skipped:
            await asyncio.to_thread(self.ledger.mark_skipped, self.owner, skipped)
        for index, batch in enumerate(batches):
            try:
                await self._record(await self.provider.send(batch))
            except (ProviderAuthError, ProviderConfigError) as exc:  # retrying cannot help
                await self._release(batches[index:], str(exc))
                await self._pause(str(exc))
                raise EditionPaused(str(exc)) from exc
            except EditionPaused:
                await self._release(batches[index + 1 :], "the edition paused")
                raise
        if self.progress is not None:
            self.progress(await asyncio.to_thread(self.ledger.counts, self.edition_id))

    # -- building batches -------------------------------------------------------------------

    def _batches(
        self, claimed: Sequence[Claimed], members: Mapping[int, AudienceMember]
    ) -> tuple[list[Batch], list[tuple[int, str]]]:
        skipped: list[tuple[int, str]] = []
        groups: dict[tuple[str, ...], tuple[Variant, str, list[Envelope]]] = {}
        key = claimed[0].batch_key
        for row in claimed:
            member = members.get(row.subscriber_id)
            if member is None:
                skipped.append((row.id, "no longer subscribed, or suppressed, since planning"))
                continue
            variant = self.renderer.variant(member.sections)
            if variant is None:
                skipped.append((row.id, "none of their sections is in this edition"))
                continue
            group = groups.get(variant.sections)
            if group is None:
                group = groups[variant.sections] = (variant, _variant_key(key, variant), [])
            group[2].append(self._envelope(row, member, group[1]))
        now = self.clock()
        batches = [
            Batch(
                key=batch_key,
                headers=edition_headers(self.renderer.snapshot, variant.subject),
                variant=variant,
                envelopes=envelopes,
                date=now,
            )
            for variant, batch_key, envelopes in groups.values()
        ]
        return batches, skipped

    def _envelope(self, row: Claimed, member: AudienceMember, key: str) -> Envelope:
        recipient = Recipient(str(member.id), member.email, member.name, member.sections)
        links = self.links.personal_links(recipient, self.newsletter, self.edition_id)
        return Envelope(
            delivery_id=row.id,
            to_address=member.email,
            to_name=member.name,
            message_id=make_message_id(self.edition_id, str(member.id), self.domain),
            values=personal_values(recipient, links),
            unsubscribe_url=links.unsubscribe_url,
            unsubscribe_mailto=links.unsubscribe_mailto,
            idempotency_key=key,
        )

    # -- recording --------------------------------------------------------------------------

    async def _record(self, results: Sequence[Result]) -> None:
        sent = [
            (r.delivery_id, r.provider_message_id) for r in results if r.outcome is Outcome.SENT
        ]
        failed = [
            (r.delivery_id, r.error or "refused") for r in results if r.outcome is Outcome.FAILED
        ]
        retry = [(r.delivery_id, r.error or "retry") for r in results if r.outcome is Outcome.RETRY]
        # a trip to a worker thread per outcome that has rows: most batches are all sent
        if sent:
            await asyncio.to_thread(self.ledger.mark_sent, self.owner, sent)
            self._sent += len(sent)
        if failed:
            await asyncio.to_thread(self.ledger.mark_failed, self.owner, failed)
        if retry:
            await asyncio.to_thread(self.ledger.release, self.owner, retry)
        failures = await asyncio.to_thread(self.ledger.count_batch, self.edition_id, bool(sent))
        if failures >= self.options.pause_after_failures:
            last = (failed + retry)[-1][1] if failed or retry else "no message delivered"
            reason = f"paused after {failures} batches in a row sent nothing; last error: {last}"
            await self._pause(reason, failures)
            raise EditionPaused(reason)

    async def _release(self, batches: Sequence[Batch], error: str) -> None:
        rows = [(e.delivery_id, error) for batch in batches for e in batch.envelopes]
        await asyncio.to_thread(self.ledger.release, self.owner, rows)

    async def _pause(self, reason: str, failures: int = 0) -> None:
        paused = await asyncio.to_thread(self.ledger.pause_once, self.edition_id, reason, failures)
        self._paused_here = self._paused_here or paused


def _variant_key(claim_key: str, variant: Variant) -> str:
    """The batch's name: the claim plus the variant, the same however the claim regroups."""
    sections = "|".join(variant.sections).encode()
    return f"{claim_key[:32]}-{hashlib.sha256(sections).hexdigest()[:12]}"
