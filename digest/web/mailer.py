"""The mail a web page causes: today, the double opt-in confirmation. I/O through ``send``.

``Mailer`` renders the confirmation (``render_confirmation``), builds its MIME message with
the same builder and headers as an edition (List-Unsubscribe with the subscriber's signed
one-click link, List-Id, Feedback-ID) and hands it to ``send(message_id, raw)``. The app
passes the outbox's ``write``; the delivery issue can pass a provider's instead, and
nothing here changes.

Message-IDs are deterministic per sign-up: ``confirm-NEWSLETTER.ID-N@sender-domain``,
where N counts the subscriber's sign-ups to that newsletter, so sending the same sign-up's
mail twice is one message (one outbox file), and each new sign-up is a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from digest.newsletter_model import Newsletter, Publication
from digest.render.confirmation import render_confirmation
from digest.render.copies import sender_domain
from digest.render.message import (
    EditionHeaders,
    MessageBuilder,
    PersonalHeaders,
    list_id,
    make_message_id,
)
from digest.render.personal import PersonalLinks, Recipient, personal_values
from digest.render.templates import TemplateSet
from subscribers.addresses import ascii_form
from subscribers.links import SignedLinks
from subscribers.model import Subscriber

Send = Callable[[str, bytes], object]
"""Sends one whole message: (Message-ID without brackets, RFC 5322 bytes)."""


@dataclass(frozen=True)
class Mailer:
    templates: TemplateSet
    publication: Publication
    send: Send
    clock: Callable[[], datetime]

    def confirmation(
        self, subscriber: Subscriber, newsletter: Newsletter, links: SignedLinks, attempt: int
    ) -> str:
        """Send the confirmation of one sign-up (its ``attempt``-th); returns its Message-ID."""
        unsubscribe_url, mailto = links.leaving_links(subscriber.id, newsletter.name)
        confirm_url = links.confirm_url(subscriber.id, newsletter.name)
        recipient = Recipient(id=str(subscriber.id), email=subscriber.email, name=subscriber.name)
        # a confirmation has no web view; only greeting and email are used by its template
        values = personal_values(
            recipient,
            PersonalLinks(
                unsubscribe_url=unsubscribe_url,
                preferences_url=links.preferences_url(subscriber.id, newsletter.name),
                view_url=confirm_url,
            ),
        )
        mail = render_confirmation(
            self.templates,
            {"name": self.publication.name, "postal_address": self.publication.postal_address},
            {"name": newsletter.name, "title": newsletter.title},
            confirm_url,
            values,
        )
        domain = sender_domain(newsletter.sender_address)
        builder = MessageBuilder(
            EditionHeaders(
                from_name=newsletter.sender_name,
                from_address=newsletter.sender_address,
                reply_to=newsletter.reply_to,
                subject=mail.subject,
                list_id=list_id(newsletter.title, newsletter.name, domain),
                feedback_id=f"{newsletter.name}:confirm:{subscriber.id}",
                sender_domain=domain,
            )
        )
        message_id = make_message_id(
            f"confirm-{newsletter.name}", f"{subscriber.id}-{attempt}", domain
        )
        raw = builder.build(
            PersonalHeaders(
                to_name=subscriber.name,
                to_address=ascii_form(subscriber.email) or subscriber.email,
                message_id=message_id,
                unsubscribe_url=unsubscribe_url,
                unsubscribe_mailto=mailto,
                date=self.clock(),
            ),
            mail.html,
            mail.text,
        )
        self.send(message_id, raw)
        return message_id
