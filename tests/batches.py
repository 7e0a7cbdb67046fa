"""Provider batches made from a really rendered edition, for the provider tests."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from snapshots import LINKS, LONGEST, snapshot, values_for

from digest.deliver.base import Batch, Envelope
from digest.render.copies import edition_headers
from digest.render.message import make_message_id
from digest.render.personal import Recipient
from digest.render.templates import TemplateSet
from digest.render.variants import EditionRenderer, RenderOptions, Variant

WHEN = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
EDITION = "0123456789abcdef"
NAMES = ["Ana", None, 'Zoë "Z" Müller, PhD', "Bo", "Cy", "Di", "Ed", "Fa"]


@cache
def variant() -> Variant:
    """The 2x2 edition's all-sections variant, compiled once per test session."""
    snap = snapshot(sections=2, per_section=2)
    renderer = EditionRenderer(
        TemplateSet(), snap, RenderOptions(base_url="https://news.example.com"), values_for(LONGEST)
    )
    found = renderer.variant(None)
    assert found is not None
    return found


def envelope(number: int, address: str | None = None, key: str = "claim-1") -> Envelope:
    name = NAMES[number % len(NAMES)]
    recipient = Recipient(str(number), address or f"reader{number}@example.org", name)
    links = LINKS.personal_links(recipient, "daily", EDITION)
    return Envelope(
        delivery_id=number,
        to_address=recipient.email,
        to_name=name,
        message_id=make_message_id(EDITION, recipient.id, "meridian.example"),
        values=values_for(recipient, EDITION),
        unsubscribe_url=links.unsubscribe_url,
        unsubscribe_mailto=links.unsubscribe_mailto,
        idempotency_key=key,
    )


def make_batch(count: int = 3, *, key: str = "claim-1-0a1b2c3d4e5f", start: int = 1) -> Batch:
    """``count`` subscribers of one variant, delivery ids ``start``, ``start + 1``, ..."""
    chosen = variant()
    return Batch(
        key=key,
        headers=edition_headers(snapshot(sections=2, per_section=2), chosen.subject),
        variant=chosen,
        envelopes=[envelope(n, key=key) for n in range(start, start + count)],
        date=WHEN,
    )
