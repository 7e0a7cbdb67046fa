"""What the email-API payloads share: addresses, list headers, the delivery marker. Computes only.

Every copy carries ``List-Unsubscribe`` (the subscriber's one-click HTTPS URL and mailto) and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058; Gmail and Yahoo require both
of bulk senders), and ``List-Id``. The APIs set their own ``Message-ID``, so ours (the same
for every resend of an edition to a subscriber) travels in ``X-Digest-Delivery``: a message
found in a mailbox or a bounce can be traced to its ledger row whatever the provider did.
``Feedback-ID`` is left to the providers, which set their own for Gmail's feedback loop.
"""

from __future__ import annotations

from email.utils import formataddr

from digest.deliver.base import Batch, Envelope
from digest.errors import ProviderConfigError

DELIVERY_HEADER = "X-Digest-Delivery"
ONE_CLICK = "List-Unsubscribe=One-Click"


def mailbox(name: str | None, address: str) -> str:
    """``Name <address>`` for APIs that take a string; the name quoted or encoded as needed."""
    return formataddr((name, address)) if name else address


def sender(batch: Batch) -> str:
    """The From of the batch, refused when the newsletter has no sender address."""
    headers = batch.headers
    if not headers.from_address:
        raise ProviderConfigError(
            "the newsletter has no sender address: set sender_address in the newsletters file"
        )
    return mailbox(headers.from_name, headers.from_address)


def recipient(envelope: Envelope) -> str:
    if not envelope.to_address:
        raise ProviderConfigError(f"delivery {envelope.delivery_id} has no recipient address")
    return mailbox(envelope.to_name, envelope.to_address)


def edition_headers(batch: Batch) -> dict[str, str]:
    """The headers every copy of the batch carries in the same words."""
    return {"List-Unsubscribe-Post": ONE_CLICK, "List-Id": batch.headers.list_id}


def personal_headers(envelope: Envelope) -> dict[str, str]:
    """The headers that differ per subscriber."""
    return {"List-Unsubscribe": envelope.list_unsubscribe(), DELIVERY_HEADER: envelope.message_id}
