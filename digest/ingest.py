"""Ingestion: every source named on the command line, parsed and upserted. Orchestrates I/O.

Sources are files, folders and http(s) URLs. Each document is detected, parsed and its
articles buffered; the buffer is written in batches (one transaction each), so a large feed
costs a few hundred statements rather than one per item and a failure later in the run
never loses what was already written. A source that cannot be read is reported and the
others go on; a malformed item is rejected with its reason and its siblings are kept.

Folders are expanded before the first document is read, so a progress display knows the
number of documents from the start (walking a tree costs little next to parsing it).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from digest.errors import FetchError, SourceError
from digest.model import Article
from digest.observe.logs import AlertCounter, alert
from digest.sources.base import Parsed, ParseOptions, RawDocument, Rejection
from digest.sources.detect import Format, detect_format
from digest.sources.dispatch import parse_document
from digest.sources.fetch import FetchPolicy, fetch
from digest.sources.jsonfeed import is_json_feed
from digest.sources.locate import Located, expand, read_document
from digest.store.articles import ArticleStore, Outcome
from digest.store.fetch_state import FetchStateStore

BATCH_SIZE = 500
log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
"""Told (documents done, documents in all) after each file or URL."""


@dataclass(frozen=True, slots=True)
class Notice:
    """A source-level message: a failure (nothing read) or a warning (read, with a caveat)."""

    source: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    counts: Counter[Outcome] = field(default_factory=Counter)
    rejected: list[Rejection] = field(default_factory=list)
    failed_sources: list[Notice] = field(default_factory=list)
    warnings: list[Notice] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every source could be read (items may still have been rejected)."""
        return not self.failed_sources

    def as_json(self) -> dict[str, Any]:
        return {
            "added": self.counts[Outcome.ADDED],
            "updated": self.counts[Outcome.UPDATED],
            "unchanged": self.counts[Outcome.UNCHANGED],
            "rejected": [
                {"source": r.source, "item": r.item, "reason": r.reason} for r in self.rejected
            ],
            "failed_sources": [
                {"source": n.source, "reason": n.reason} for n in self.failed_sources
            ],
            "warnings": [{"source": n.source, "reason": n.reason} for n in self.warnings],
        }


@dataclass
class Ingestor:
    """Reads sources into the store; every part it needs is handed in."""

    store: ArticleStore
    fetch_state: FetchStateStore
    client: httpx.Client
    options: ParseOptions
    policy: FetchPolicy
    batch_size: int = BATCH_SIZE
    alert_after_failures: int = 3
    """Fetches in a row a URL may fail before ops are alerted (DIGEST_ALERT_FEED_FAILURES)."""
    alerts: AlertCounter | None = None
    _buffer: list[Article] = field(default_factory=list, init=False)

    def run(
        self, sources: Iterable[str], section: str | None = None, progress: Progress | None = None
    ) -> IngestReport:
        options = replace(self.options, default_section=section) if section else self.options
        report = IngestReport()
        documents = self._documents(sources, report)
        for done, document in enumerate(documents, start=1):
            try:
                if isinstance(document, str):
                    self._ingest_url(document, options, report)
                else:
                    self._ingest_file(document, options, report)
            except SourceError as exc:
                report.failed_sources.append(Notice(exc.source, exc.reason))
            if progress is not None:
                progress(done, len(documents))
        self._flush(report)
        return report

    def _documents(self, sources: Iterable[str], report: IngestReport) -> list[str | Located]:
        """Every URL, and every file the paths name; a path that names none is reported."""
        documents: list[str | Located] = []
        for source in sources:
            if source.lower().startswith(("http://", "https://")):
                documents.append(source)
                continue
            try:
                documents.extend(expand(source))
            except SourceError as exc:
                report.failed_sources.append(Notice(exc.source, exc.reason))
        return documents

    def _ingest_file(self, located: Located, options: ParseOptions, report: IngestReport) -> None:
        doc = read_document(located.path, self.policy.max_bytes)
        self._take(doc.origin, self._parse(doc, located, options, report), report)

    def _ingest_url(self, url: str, options: ParseOptions, report: IngestReport) -> None:
        try:
            fetched = fetch(self.client, url, self.policy, self.fetch_state.validators(url))
        except FetchError as exc:
            self._count_failure(url, exc.reason)
            raise
        if fetched.document is None:
            report.warnings.append(Notice(url, "not modified since the last fetch (HTTP 304)"))
            return
        self._take(url, parse_document(fetched.document, options), report)
        self._flush(report)  # store the items before recording that this version was seen
        self.fetch_state.save(url, fetched.validators, datetime.now(UTC))

    def _count_failure(self, url: str, reason: str) -> None:
        """One more failed fetch of ``url``; a feed that keeps failing is an ops alert."""
        failures = self.fetch_state.record_failure(url, reason, datetime.now(UTC))
        if failures >= self.alert_after_failures:
            message = f"{url} has failed {failures} fetches in a row; last: {reason}"
            alert(log, "feed_failing", message, counter=self.alerts)

    def _parse(
        self, doc: RawDocument, located: Located, options: ParseOptions, report: IngestReport
    ) -> Parsed:
        named_json = detect_format(doc) is Format.JSON_FEED and not is_json_feed(doc.data)
        if named_json and not located.explicit:
            report.warnings.append(Notice(doc.origin, "skipped: a JSON file but not a JSON Feed"))
            return Parsed()
        return parse_document(doc, options)

    def _take(self, origin: str, parsed: Parsed, report: IngestReport) -> None:
        log.info(
            "%s: %d article(s), %d rejected", origin, len(parsed.articles), len(parsed.rejected)
        )
        report.rejected.extend(parsed.rejected)
        report.warnings.extend(Notice(origin, warning) for warning in parsed.warnings)
        self._buffer.extend(parsed.articles)
        if len(self._buffer) >= self.batch_size:
            self._flush(report)

    def _flush(self, report: IngestReport) -> None:
        while self._buffer:
            batch, self._buffer = self._buffer[: self.batch_size], self._buffer[self.batch_size :]
            report.counts.update(self.store.upsert(batch))
