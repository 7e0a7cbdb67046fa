"""What every provider takes and gives back, and the shared template method.

A provider is handed a ``Batch``: one variant of one edition (its compiled HTML and text,
split at the personal placeholders, and its subject) and up to ``max_batch`` envelopes,
each one subscriber with their personal values and headers. Giving providers the variant
rather than finished messages lets the ones that personalise server-side (SendGrid
substitutions, Mailgun recipient-variables) upload the body once per call; the others fill
each copy in (``Envelope.html``) or build full MIME (``Batch.mime``).

``Provider.send`` is the template method: ``build`` the provider's requests, ``post`` each
through the shared transport (rate limit, retries, backoff), ``parse`` each answer into one
``Result`` per envelope. Subclasses fill in the three steps; the loop, the accounting and
the errors are here once.

Errors are digest's ``DeliveryError`` and its children (see ``digest.errors``).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from digest.render.message import EditionHeaders, MessageBuilder, PersonalHeaders
from digest.render.variants import Variant


class Outcome(enum.Enum):
    SENT = "sent"
    FAILED = "failed"  # the provider refused this recipient for good (a 4xx naming it)
    RETRY = "retry"  # not sent this time (throttled, server error, timeout): try again later


@dataclass(frozen=True, slots=True)
class Envelope:
    """One recipient of a batch: their ledger row, address, personal values and headers."""

    delivery_id: int
    to_address: str
    to_name: str | None
    message_id: str
    values: Mapping[str, str]
    unsubscribe_url: str
    unsubscribe_mailto: str | None
    idempotency_key: str

    def personal_headers(self, date: datetime) -> PersonalHeaders:
        return PersonalHeaders(
            to_name=self.to_name,
            to_address=self.to_address,
            message_id=self.message_id,
            unsubscribe_url=self.unsubscribe_url,
            unsubscribe_mailto=self.unsubscribe_mailto,
            date=date,
        )

    def list_unsubscribe(self) -> str:
        links = [f"<{self.unsubscribe_url}>"]
        if self.unsubscribe_mailto:
            links.append(f"<{self.unsubscribe_mailto}>")
        return ", ".join(links)


@dataclass(slots=True)
class Batch:
    """Envelopes that share one variant; ``key`` names the batch for idempotent retries."""

    key: str
    headers: EditionHeaders
    variant: Variant
    envelopes: list[Envelope]
    date: datetime
    _builder: MessageBuilder | None = field(default=None, repr=False)

    def html(self, envelope: Envelope) -> str:
        return self.variant.html.fill(envelope.values)

    def text(self, envelope: Envelope) -> str:
        return self.variant.text.fill(envelope.values)

    def mime(self, envelope: Envelope) -> bytes:
        """The full RFC 5322 message for one envelope (outbox, SMTP)."""
        if self._builder is None:
            self._builder = MessageBuilder(self.headers)
        return self._builder.build(
            envelope.personal_headers(self.date), self.html(envelope), self.text(envelope)
        )


@dataclass(frozen=True, slots=True)
class Result:
    delivery_id: int
    outcome: Outcome
    provider_message_id: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """One call to a provider and the envelopes it carries."""

    envelopes: Sequence[Envelope]
    payload: Any


class Provider(ABC):
    """A provider adapter: subclasses build requests, post them and parse the answers."""

    name: str = "provider"
    max_batch: int = 100
    idempotent: bool = False  # True when a retried batch cannot be delivered twice

    async def send(self, batch: Batch) -> list[Result]:
        results: list[Result] = []
        for request in self.requests(batch):
            results += await self.post(request, batch)
        return results

    @abstractmethod
    def build(self, batch: Batch) -> list[Request]:
        """The provider's calls for this batch (each within its size limits)."""

    def requests(self, batch: Batch) -> Iterator[Request]:
        """The calls ``send`` makes, one at a time: ``build``'s list unless overridden.

        A provider whose calls carry every recipient's whole message (Postmark) makes each
        call's body only when the call is next, so a batch in flight holds one call's bytes
        rather than all of them. It must still refuse a bad batch before the first call.
        """
        return iter(self.build(batch))

    @abstractmethod
    async def post(self, request: Request, batch: Batch) -> list[Result]:
        """Make one call and say, per envelope, what happened."""

    async def close(self) -> None:  # noqa: B027  (a hook: most providers hold nothing)
        """Release connections; the default has none."""
