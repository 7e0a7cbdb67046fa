"""The one place that builds digest's parts from the settings and hands them in. I/O.

The CLI (and later the web app factory) call ``build``; nothing else reads settings to
construct a store or a client, so tests can build the same parts from their own values.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import Engine

from digest.newsletters import NewsletterConfig, load_newsletters
from digest.settings import Settings
from digest.sources.base import ParseOptions
from digest.store.articles import ArticleStore
from digest.store.editions import EditionStore
from digest.store.editors import EditorStore
from digest.store.engine import create_store_engine
from digest.store.events import EventStore
from digest.store.fetch_state import FetchStateStore
from digest.store.ledger import Ledger
from digest.store.ledger_ops import LedgerOps
from digest.store.migrate import ensure_current
from digest.store.overrides import EditorialStore
from digest.store.replay import ReplayGuard
from digest.store.runs import ScheduleRuns
from subscribers.links import SignedLinks
from subscribers.store import SubscriberStore
from subscribers.tokens import Tokens

if TYPE_CHECKING:  # imported where used: a command pays only for the parts it builds
    from digest.deliver.base import Provider
    from digest.deliver.outbox import Outbox
    from digest.deliver.sender import Progress, Sender, SendOptions
    from digest.editions import Planner
    from digest.ingest import Ingestor
    from digest.ops import Operations
    from digest.queue.enqueue import JobQueue
    from digest.queue.status import QueueView
    from digest.render.lint import Support
    from digest.render.templates import TemplateSet
    from digest.render.variants import EditionRenderer
    from digest.sources.fetch import FetchPolicy

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Parts:
    settings: Settings
    engine: Engine
    articles: ArticleStore
    fetch_state: FetchStateStore
    editions: EditionStore
    subscribers: SubscriberStore

    def parse_options(self) -> ParseOptions:
        return ParseOptions(
            default_section=self.settings.default_section,
            section_map=self.settings.section_map,
            zone=self.settings.zone,
        )

    def fetch_policy(self) -> FetchPolicy:
        from digest.sources.fetch import FetchPolicy

        return FetchPolicy(
            timeout=self.settings.fetch_timeout,
            max_bytes=self.settings.fetch_max_bytes,
            user_agent=self.settings.user_agent,
            allow_private=self.settings.allow_private_urls,
        )

    def newsletters(self, path: Path | None = None) -> NewsletterConfig:
        """The newsletters file named by the settings (or ``path``), read and validated."""
        return load_newsletters(path or self.settings.newsletters_file)

    def planner(self, config: NewsletterConfig) -> Planner:
        from digest.editions import Planner

        return Planner(
            articles=self.articles,
            editions=self.editions,
            config=config,
            editorial=self.editorial(),
        )

    def editorial(self, clock: Clock = utc_now) -> EditorialStore:
        """Editors' pins, drops and approvals per (newsletter, slot)."""
        return EditorialStore(self.engine, clock)

    def templates(self) -> TemplateSet:
        """The editors' templates, every one compiled now so a broken one stops us here."""
        from digest.render.templates import TemplateSet

        templates = TemplateSet(self.settings.templates_dir)
        templates.check()
        return templates

    def renderer(self, templates: TemplateSet, snapshot: Mapping[str, Any]) -> EditionRenderer:
        from digest.render.copies import worst_case_values
        from digest.render.variants import EditionRenderer, RenderOptions

        options = RenderOptions(
            base_url=self.settings.base_url, budget_bytes=self.settings.html_budget_bytes
        )
        worst_case = worst_case_values(self.links(snapshot), snapshot)
        return EditionRenderer(templates, snapshot, options, worst_case)

    def links(self, snapshot: Mapping[str, Any]) -> SignedLinks:
        """Signed personal links for an edition (its sender's domain takes the mailto).

        Their tokens are stamped with the edition's slot rather than the moment of signing,
        so a subscriber's copy comes out byte for byte the same however often it is built:
        a batch sent again after a crash must be the very same request under Resend's
        ``Idempotency-Key``, which refuses a key reused for another body (409
        ``invalid_idempotent_request``) and would leave delivered rows marked failed. An
        edition only sends at or after its slot, so the stamp is never in the future; the
        preview of a future slot is stamped now.
        """
        slot = datetime.fromisoformat(snapshot["slot"])
        return self.signed_links(
            snapshot["newsletter"]["sender_address"],
            stamp=lambda: min(slot, datetime.now(UTC)),
        )

    def signed_links(
        self, sender_address: str, stamp: Callable[[], datetime] | None = None
    ) -> SignedLinks:
        from digest.render.copies import sender_domain

        mailbox = (
            self.settings.unsubscribe_mailbox or f"unsubscribe@{sender_domain(sender_address)}"
        )
        return SignedLinks(self.tokens(stamp), self.settings.public_url, mailbox)

    def tokens(self, stamp: Callable[[], datetime] | None = None) -> Tokens:
        """The signer of personal links; ``stamp`` fixes the time tokens are made at."""
        return Tokens(self.secret(), self.settings.old_secret_keys, clock=stamp)

    def secret(self) -> str:
        """The signing secret: the setting, else this machine's own (made on first use)."""
        return self.settings.secret_key or local_secret(self.settings.data_dir / "secret.key")

    def editors(self) -> EditorStore:
        """Editor accounts: the store's and those of ``DIGEST_EDITORS`` (which win)."""
        return EditorStore(self.engine, self.settings.editors)

    def ledger(self) -> Ledger:
        return Ledger(self.engine)

    def operations(self, config: NewsletterConfig, clock: Clock = utc_now) -> Operations:
        """What ops see and steer, over this store and these newsletters.

        ``clock`` is the time of every part inside (tests run a week on a frozen one).
        """
        from digest.editions import Planner
        from digest.ops import Operations

        return Operations(
            config=config,
            editions=self.editions,
            ledger=Ledger(self.engine, clock),
            ledger_ops=LedgerOps(self.engine, clock),
            runs=ScheduleRuns(self.engine, clock),
            planner=Planner(
                articles=self.articles,
                editions=self.editions,
                config=config,
                clock=clock,
                editorial=self.editorial(clock),
            ),
            audience=self.subscribers,
            editorial=self.editorial(clock),
            clock=clock,
            queue=self.job_queue(),
        )

    def job_queue(self) -> JobQueue | None:
        """The queue that sends batches (``DIGEST_QUEUE=procrastinate``), else None.

        Asked for whenever ops are built, so every process that plans (the scheduler, the
        ops API, ``digest send``) defers jobs alongside the rows it enrols; a queue without
        PostgreSQL is a ``ConfigError`` naming the setting.
        """
        from digest.queue.enqueue import JobQueue, batch_size

        if self.settings.queue != "procrastinate":
            return None
        self.settings.queue_url()
        return JobQueue(batch_size(self.settings.provider))

    def queue_view(self) -> QueueView:
        """What ops see of the job queue (off unless ``DIGEST_QUEUE=procrastinate``)."""
        from digest.queue.status import QueueView

        return QueueView(self.engine, enabled=self.settings.queue == "procrastinate")

    def event_store(self) -> EventStore:
        """Provider events from webhooks, kept raw."""
        return EventStore(self.engine)

    def replay_guard(self) -> ReplayGuard:
        """One-time webhook tokens already taken, shared by every web process."""
        return ReplayGuard(self.engine)

    def sender(
        self, renderer: EditionRenderer, provider: Provider, progress: Progress | None = None
    ) -> Sender:
        from digest.deliver.sender import Sender

        links = self.links(renderer.snapshot)
        return Sender(
            self.ledger(),
            self.subscribers,
            provider,
            renderer,
            links,
            self.send_options(),
            progress=progress,
        )

    def send_options(self) -> SendOptions:
        from digest.deliver.sender import SendOptions

        return SendOptions(
            lease=timedelta(seconds=self.settings.send_lease_seconds),
            concurrency=self.settings.send_concurrency,
            pause_after_failures=self.settings.pause_after_failures,
            uncertain_policy=self.settings.uncertain_policy,
        )

    def outbox(self) -> Outbox:
        from digest.deliver.outbox import Outbox

        return Outbox(self.settings.outbox)

    def lint_support(self) -> Support | None:
        """caniemail's data for the linter, or None when it is not on this machine."""
        from digest.render.lint import default_support_folder, load_support

        folder = self.settings.caniemail_dir or default_support_folder()
        if self.settings.caniemail_dir is None and not folder.is_dir():
            return None
        return load_support(folder)

    def ingestor(self, client: httpx.Client) -> Ingestor:
        from digest.ingest import Ingestor

        return Ingestor(
            store=self.articles,
            fetch_state=self.fetch_state,
            client=client,
            options=self.parse_options(),
            policy=self.fetch_policy(),
            alert_after_failures=self.settings.alert_feed_failures,
        )


@contextmanager
def build(settings: Settings, migrate: bool = True) -> Iterator[Parts]:
    """Open the store (migrating it when behind) and yield the parts; dispose on exit."""
    engine = create_store_engine(settings.store_url)
    try:
        if migrate:
            ensure_current(engine)
        yield Parts(
            settings=settings,
            engine=engine,
            articles=ArticleStore(engine, base_url=settings.base_url),
            fetch_state=FetchStateStore(engine),
            editions=EditionStore(engine),
            subscribers=SubscriberStore(engine),
        )
    finally:
        engine.dispose()


@contextmanager
def http_client(parts: Parts) -> Iterator[httpx.Client]:
    from digest.sources.fetch import make_client

    with make_client(parts.fetch_policy()) as client:
        yield client


def local_secret(path: Path) -> str:
    """The machine's own signing secret, made once (owner-only) when none is configured."""
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(secret + "\n")
    return secret
