"""One subscriber's copy of an edition: HTML, plain text and the MIME message. Computes only.

``CopyMaker`` is what delivery (and the preview) call per subscriber. It holds everything
that is the same for many subscribers (the renderer's compiled variants, one
``MessageBuilder`` per variant) and does only the personal work per call: the subscriber's
links, the substitution into HTML and text, and the per-message headers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from digest.render.links import LinkBuilder
from digest.render.message import (
    EditionHeaders,
    MessageBuilder,
    PersonalHeaders,
    list_id,
    make_message_id,
)
from digest.render.personal import Recipient, personal_values
from digest.render.variants import EditionRenderer, Variant

Clock = Callable[[], datetime]

LONGEST_RECIPIENT = Recipient(
    id="9" * 36,
    email="x" * 64 + "@" + "y" * 180 + ".example",
    name="W" * 100,
)
"""The longest values a subscriber can have, to measure a variant as its largest copy."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def worst_case_values(links: LinkBuilder, snapshot: Mapping[str, Any]) -> dict[str, str]:
    newsletter, edition = snapshot["newsletter"]["name"], snapshot["edition_id"]
    return personal_values(
        LONGEST_RECIPIENT, links.personal_links(LONGEST_RECIPIENT, newsletter, edition)
    )


def sender_domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


@dataclass(frozen=True, slots=True)
class Copy:
    recipient: Recipient
    variant: Variant
    html: str
    text: str
    message: bytes
    message_id: str


@dataclass
class CopyMaker:
    renderer: EditionRenderer
    links: LinkBuilder
    clock: Clock = utc_now
    _builders: dict[tuple[str, ...], MessageBuilder] = field(default_factory=dict, init=False)

    def make(self, recipient: Recipient) -> Copy | None:
        """The recipient's copy; None when none of their sections is in this edition."""
        variant = self.renderer.variant(recipient.sections)
        if variant is None:
            return None
        snapshot = self.renderer.snapshot
        newsletter, edition_id = snapshot["newsletter"], snapshot["edition_id"]
        links = self.links.personal_links(recipient, newsletter["name"], edition_id)
        values = personal_values(recipient, links)
        html, text = variant.html.fill(values), variant.text.fill(values)
        message_id = make_message_id(
            edition_id, recipient.id, sender_domain(newsletter["sender_address"])
        )
        headers = PersonalHeaders(
            to_name=recipient.name or None,
            to_address=recipient.email,
            message_id=message_id,
            unsubscribe_url=links.unsubscribe_url,
            unsubscribe_mailto=links.unsubscribe_mailto,
            date=self.clock(),
        )
        message = self._builder(variant).build(headers, html, text)
        return Copy(recipient, variant, html, text, message, message_id)

    def _builder(self, variant: Variant) -> MessageBuilder:
        if variant.sections not in self._builders:
            self._builders[variant.sections] = MessageBuilder(
                edition_headers(self.renderer.snapshot, variant.subject)
            )
        return self._builders[variant.sections]


def edition_headers(snapshot: Mapping[str, Any], subject: str) -> EditionHeaders:
    newsletter = snapshot["newsletter"]
    domain = sender_domain(newsletter["sender_address"])
    return EditionHeaders(
        from_name=newsletter["sender_name"],
        from_address=newsletter["sender_address"],
        reply_to=newsletter.get("reply_to"),
        subject=subject,
        list_id=list_id(newsletter["title"], newsletter["name"], domain),
        feedback_id=f"{newsletter['name']}:{snapshot['edition_id']}:digest",
        sender_domain=domain,
    )
