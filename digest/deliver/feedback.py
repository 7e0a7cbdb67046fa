"""What a provider's events change: suppressions, unsubscribes, the ledger. I/O.

Hard bounces and complaints put the address on the suppression list; a provider-side
unsubscribe leaves every newsletter; a soft bounce counts, and the address is suppressed
once ``soft_bounce_limit`` of its messages soft-bounced. Each of these also skips the
subscriber's still-pending ledger rows, so an edition being sent right now stops mailing
them. A delivery event confirms the ledger row that recorded the provider's message id.

Store and apply form one unit by order and idempotence, not by one transaction (the
subscriber store, the ledger and the event store each commit their own): an event already
stored is a duplicate and changes nothing; a new one is applied first and stored after.
If applying fails, nothing is stored, the webhook answers 500 and the provider's retry
applies it again; if storing fails after applying, the retry re-applies, which is harmless
because every action is idempotent (suppressing a suppressed address, skipping rows no
longer pending, confirming a sent row). Storing first would lose the event for good when
the process died between the two steps: the retry would look like a duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from digest.deliver.events import EventKind, ProviderEvent
from digest.store.events import EventStore
from digest.store.ledger import Ledger
from subscribers.model import Source
from subscribers.store import SubscriberStore

SKIP_REASONS = {"bounce": "bounced", "complaint": "complained", "unsubscribe": "unsubscribed"}


@dataclass(frozen=True, slots=True)
class Applied:
    """What one webhook request did: events new to us, and duplicates left alone."""

    new: int = 0
    duplicates: int = 0


class Feedback:
    def __init__(
        self,
        events: EventStore,
        subscribers: SubscriberStore,
        ledger: Ledger,
        soft_bounce_limit: int,
    ) -> None:
        self.events = events
        self.subscribers = subscribers
        self.ledger = ledger
        self.soft_bounce_limit = soft_bounce_limit

    def take(self, events: Sequence[ProviderEvent]) -> Applied:
        """Apply and store each event not stored before, in the provider's order."""
        new = duplicates = 0
        for event in events:
            if self.events.seen(event.provider, event.event_key):
                duplicates += 1
                continue
            self.apply(event)
            if self.events.record(event):
                new += 1
            else:  # another process took the same event meanwhile; applying twice is harmless
                duplicates += 1
        return Applied(new, duplicates)

    def apply(self, event: ProviderEvent) -> None:
        kind, email = event.kind, event.email
        if kind is EventKind.DELIVERED and event.provider_message_id:
            self.ledger.record_delivered(event.provider_message_id, event.email)
        if email is None:
            return
        if kind is EventKind.BOUNCE_HARD:
            self._suppress(email, "bounce", event)
        elif kind is EventKind.COMPLAINT:
            self._suppress(email, "complaint", event)
        elif kind is EventKind.UNSUBSCRIBE:
            self._unsubscribe(email, event)
        elif kind is EventKind.BOUNCE_SOFT and self._soft_limit_reached(email, event):
            self._suppress(email, "bounce", event)

    def _soft_limit_reached(self, email: str, event: ProviderEvent) -> bool:
        return self.events.soft_bounces(email, besides=event) >= self.soft_bounce_limit

    def _suppress(self, email: str, reason: str, event: ProviderEvent) -> None:
        # the first reason stays on the list and in the history; a later one adds nothing
        if self.subscribers.suppression(email) is None:
            self.subscribers.suppress(email, reason, Source.PROVIDER)
        self._skip_pending(email, reason, event)

    def _unsubscribe(self, email: str, event: ProviderEvent) -> None:
        found = self._find(email)
        if found is not None:
            self.subscribers.unsubscribe(found, None, Source.PROVIDER)
            self._skip_pending(email, "unsubscribe", event)

    def _skip_pending(self, email: str, reason: str, event: ProviderEvent) -> None:
        found = self._find(email)
        if found is not None:
            self.ledger.skip_pending_of(found, f"{SKIP_REASONS[reason]} ({event.provider})")

    def _find(self, email: str) -> int | None:
        try:
            found = self.subscribers.find(email)
        except ValueError:  # not an address we could have subscribed
            return None
        return found.id if found else None
