"""The subscriber store: sign-up, confirmation, preferences, leaving, suppression. I/O.

Every change is one transaction that also appends to the subscriber's event history, so
"why is this person (not) receiving the daily?" always has an answer. The suppression list
is checked by every path that could (re)activate an address (form, import, API); nothing
overrides it. Statuses only move forward on their own: an import or a second sign-up
never reactivates an address that unsubscribed, bounced or complained.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from subscribers.addresses import address_hash, clean_name, normalize
from subscribers.batch import held_for, write_plan
from subscribers.imports import ImportOutcome, ImportRow
from subscribers.merge import plan_batch
from subscribers.model import (
    AudienceMember,
    Cadence,
    Event,
    Source,
    Status,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from subscribers.schema import subscriber_events, subscribers, subscriptions, suppressions
from subscribers.sql import (
    BLOCKED,
    audience_page,
    event,
    insert,
    leave_all,
    listed,
    listing_page,
    member,
    normalized_or_raw,
    one,
    receiving,
    sections_json,
    set_status,
    set_subscription,
    subscriber,
    subscription,
    subscription_key,
    subscription_of,
    subscriptions_by_subscriber,
    suppressed,
    upsert_subscription,
)

Clock = Callable[[], datetime]
Listing = tuple[Subscriber, list[Subscription]]
PAGE_SIZE = 1000


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SignUp:
    """What a sign-up did: ``needs_confirmation`` when a confirmation mail should go out."""

    subscriber: Subscriber | None
    needs_confirmation: bool
    refused: str | None = None


class SubscriberStore:
    """The subscriber domain's store, over the engine digest hands in."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    # -- reading ----------------------------------------------------------------------------

    def get(self, subscriber_id: int) -> Subscriber | None:
        with self.engine.connect() as conn:
            return one(conn, subscribers.c.id == subscriber_id)

    def find(self, email: str) -> Subscriber | None:
        with self.engine.connect() as conn:
            return one(conn, subscribers.c.email_hash == address_hash(normalize(email)))

    def subscriptions(self, subscriber_id: int) -> list[Subscription]:
        query = select(subscriptions).where(subscriptions.c.subscriber_id == subscriber_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(subscriptions.c.newsletter))
            return [subscription(row) for row in rows]

    def subscription(self, subscriber_id: int, newsletter: str) -> Subscription | None:
        return next(
            (s for s in self.subscriptions(subscriber_id) if s.newsletter == newsletter), None
        )

    def list_subscribers(
        self, status: Status | None = None, after_id: int = 0, limit: int | None = None
    ) -> list[Subscriber]:
        query = select(subscribers).where(subscribers.c.id > after_id).order_by(subscribers.c.id)
        if status is not None:
            query = query.where(subscribers.c.status == status.value)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [subscriber(row) for row in conn.execute(query)]

    def events(self, subscriber_id: int) -> list[Event]:
        query = (
            select(subscriber_events)
            .where(subscriber_events.c.subscriber_id == subscriber_id)
            .order_by(subscriber_events.c.id)
        )
        with self.engine.connect() as conn:
            return [
                Event(r.at, r.kind, r.newsletter, Source(r.source), orjson.loads(r.detail))
                for r in conn.execute(query)
            ]

    def suppression(self, email: str) -> Suppression | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(suppressions).where(suppressions.c.email_hash == address_hash(email))
            ).first()
        if row is None:
            return None
        return Suppression(
            row.email_hash, row.email, row.reason, Source(row.source), row.created_at
        )

    def listings(
        self,
        status: Status | None = None,
        newsletter: str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[list[Listing]]:
        """Subscribers with their subscriptions, a page at a time in id order (for export).

        With ``newsletter``, only its subscribers and only that subscription of each.
        """
        after = 0
        while True:
            with self.engine.connect() as conn:
                people = [
                    subscriber(row)
                    for row in conn.execute(listing_page(status, newsletter, after, page_size))
                ]
                held = subscriptions_by_subscriber(conn, [p.id for p in people], newsletter)
            if not people:
                return
            yield [(person, held.get(person.id, [])) for person in people]
            after = people[-1].id

    def audience(
        self, newsletter: str, page_size: int = PAGE_SIZE, cadence: Cadence = Cadence.EACH
    ) -> Iterator[list[AudienceMember]]:
        """Who receives each edition of ``newsletter``, a page at a time, in id order.

        Active and confirmed, subscribed to this newsletter at this cadence (each edition,
        or the weekly roll-up), and not suppressed. Pages are keyed by id, so a million
        subscribers never sit in memory and
        a change between pages cannot make the walk skip or repeat anyone.
        """
        after = 0
        while True:
            with self.engine.connect() as conn:
                page = [
                    member(row)
                    for row in conn.execute(audience_page(newsletter, after, page_size, cadence))
                ]
            if not page:
                return
            yield page
            after = page[-1].id

    def still_receiving(
        self, newsletter: str, subscriber_ids: Sequence[int], cadence: Cadence = Cadence.EACH
    ) -> dict[int, AudienceMember]:
        """Those of these subscribers who would still be in the audience now.

        Sending asks this right before each batch, so an unsubscribe, bounce or complaint
        that arrived after the ledger was made still stops the mail.
        """
        found: dict[int, AudienceMember] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(subscriber_ids), 500):
                chunk = list(subscriber_ids[start : start + 500])
                query = receiving(newsletter, cadence).where(subscribers.c.id.in_(chunk))
                found.update({row.id: member(row) for row in conn.execute(query)})
        return found

    # -- changing ---------------------------------------------------------------------------

    def sign_up(
        self,
        email: str,
        newsletter: str,
        name: str | None = None,
        sections: Sequence[str] | None = None,
        source: Source = Source.FORM,
    ) -> SignUp:
        """A pending subscription awaiting confirmation, unless the address may not get one."""
        address = normalize(email)
        now = self.clock()
        with self.engine.begin() as conn:
            if suppressed(conn, address):
                return SignUp(None, False, "suppressed")
            current = one(conn, subscribers.c.email_hash == address_hash(address))
            if current is not None and current.status in (Status.BOUNCED, Status.COMPLAINED):
                return SignUp(current, False, current.status.value)
            if current is None:
                current = insert(conn, address, clean_name(name), Status.PENDING, source, now)
            elif current.status is Status.UNSUBSCRIBED:
                # a new sign-up by the person themselves is new consent: ask them to confirm it
                set_status(conn, current.id, Status.PENDING, now, source, newsletter)
            mine = subscription_of(conn, current.id, newsletter)
            if (
                mine is not None
                and mine.status is SubscriptionStatus.ACTIVE
                and current.status is Status.ACTIVE
            ):
                return SignUp(current, False, None)
            upsert_subscription(
                conn, current.id, newsletter, SubscriptionStatus.PENDING, sections, now
            )
            event(conn, current.id, "signed_up", newsletter, source, now, sections=listed(sections))
            return SignUp(one(conn, subscribers.c.id == current.id), True, None)

    def confirm(
        self, subscriber_id: int, newsletter: str, source: Source = Source.LINK
    ) -> Subscriber | None:
        """Activate a pending subscriber and subscription; None if it can no longer be."""
        now = self.clock()
        with self.engine.begin() as conn:
            current = one(conn, subscribers.c.id == subscriber_id)
            if current is None or current.status in BLOCKED or suppressed(conn, current.email):
                return None
            mine = subscription_of(conn, subscriber_id, newsletter)
            if mine is None or mine.status is SubscriptionStatus.UNSUBSCRIBED:
                return None
            if current.status is Status.PENDING:
                conn.execute(
                    subscribers.update()
                    .where(subscribers.c.id == subscriber_id)
                    .values(status=Status.ACTIVE.value, confirmed_at=now, updated_at=now)
                )
            if mine.status is SubscriptionStatus.PENDING:
                set_subscription(conn, subscriber_id, newsletter, SubscriptionStatus.ACTIVE, now)
                event(conn, subscriber_id, "confirmed", newsletter, source, now)
            return one(conn, subscribers.c.id == subscriber_id)

    def unsubscribe(
        self, subscriber_id: int, newsletter: str | None, source: Source = Source.LINK
    ) -> bool:
        """Leave one newsletter, or everything when ``newsletter`` is None; True if it changed."""
        now = self.clock()
        with self.engine.begin() as conn:
            current = one(conn, subscribers.c.id == subscriber_id)
            if current is None:
                return False
            if newsletter is None:
                if current.status is Status.UNSUBSCRIBED:
                    return False
                leave_all(conn, subscriber_id, now)
                set_status(conn, subscriber_id, Status.UNSUBSCRIBED, now, source, None)
                return True
            mine = subscription_of(conn, subscriber_id, newsletter)
            if mine is None or mine.status is SubscriptionStatus.UNSUBSCRIBED:
                return False
            set_subscription(conn, subscriber_id, newsletter, SubscriptionStatus.UNSUBSCRIBED, now)
            event(conn, subscriber_id, "unsubscribed", newsletter, source, now)
            return True

    def set_preferences(
        self,
        subscriber_id: int,
        newsletter: str,
        sections: Sequence[str] | None,
        cadence: Cadence,
        timezone: str | None,
        send_hour: int | None,
        source: Source = Source.LINK,
    ) -> bool:
        """Change what and when a subscriber receives; True if anything changed."""
        now = self.clock()
        with self.engine.begin() as conn:
            mine = subscription_of(conn, subscriber_id, newsletter)
            current = one(conn, subscribers.c.id == subscriber_id)
            if mine is None or current is None:
                return False
            wanted = (listed(sections), cadence, timezone, send_hour)
            before = (listed(mine.sections), mine.cadence, current.timezone, current.send_hour)
            if wanted == before:
                return False
            conn.execute(
                subscriptions.update()
                .where(subscription_key(subscriber_id, newsletter))
                .values(sections=sections_json(sections), cadence=cadence.value)
            )
            conn.execute(
                subscribers.update()
                .where(subscribers.c.id == subscriber_id)
                .values(timezone=timezone, send_hour=send_hour, updated_at=now)
            )
            detail: dict[str, Any] = {"sections": listed(sections), "cadence": cadence.value}
            detail |= {"timezone": timezone, "send_hour": send_hour}
            event(conn, subscriber_id, "preferences", newsletter, source, now, **detail)
            return True

    def import_batch(
        self, newsletter: str, rows: Sequence[ImportRow], source: Source = Source.IMPORT
    ) -> ImportOutcome:
        """Apply checked rows (see ``subscribers.merge`` for the rules) in one transaction.

        Set-based: a few queries read what the store holds for the whole batch and one
        executemany writes each kind of change, so 100,000 rows take seconds, not minutes.
        """
        if not rows:
            return ImportOutcome()
        now = self.clock()
        try:
            return self._import_once(newsletter, rows, source, now)
        except IntegrityError:
            # another writer added one of these addresses meanwhile: read again, then write
            return self._import_once(newsletter, rows, source, now)

    def _import_once(
        self, newsletter: str, rows: Sequence[ImportRow], source: Source, now: datetime
    ) -> ImportOutcome:
        with self.engine.begin() as conn:
            plan = plan_batch(rows, held_for(conn, [r.email for r in rows], newsletter), newsletter)
            write_plan(conn, plan, newsletter, source, now)
        return plan.outcome

    def suppress(self, email: str, reason: str, source: Source) -> None:
        """Put an address on the suppression list and stop everything it receives."""
        now = self.clock()
        address = normalized_or_raw(email)
        with self.engine.begin() as conn:
            key = address_hash(address)
            if (
                conn.execute(
                    select(suppressions.c.email_hash).where(suppressions.c.email_hash == key)
                ).first()
                is None
            ):
                conn.execute(
                    suppressions.insert().values(
                        email_hash=key,
                        email=address,
                        reason=reason,
                        source=source.value,
                        created_at=now,
                    )
                )
            current = one(conn, subscribers.c.email_hash == address_hash(address))
            if current is not None:
                status = {"bounce": Status.BOUNCED, "complaint": Status.COMPLAINED}.get(
                    reason, Status.UNSUBSCRIBED
                )
                leave_all(conn, current.id, now)
                set_status(conn, current.id, status, now, source, None, reason=reason)

    def remove(self, email: str) -> bool:
        """Erase a subscriber's personal data; keep only a hash so they are not re-added."""
        address = normalize(email)
        now = self.clock()
        with self.engine.begin() as conn:
            key = address_hash(address)
            existing = conn.execute(
                select(suppressions).where(suppressions.c.email_hash == key)
            ).first()
            if existing is None:
                conn.execute(
                    suppressions.insert().values(
                        email_hash=key,
                        email=None,
                        reason="removed",
                        source=Source.OPERATOR.value,
                        created_at=now,
                    )
                )
            else:
                conn.execute(
                    suppressions.update().where(suppressions.c.email_hash == key).values(email=None)
                )
            deleted = conn.execute(
                subscribers.delete().where(subscribers.c.email_hash == key)
            ).rowcount
            return bool(deleted) or existing is None
