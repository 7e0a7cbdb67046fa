"""Email addresses: validated by syntax and normalised, so one person is one subscriber.

Computes only: no DNS lookups (an import of 100,000 rows must not wait on the network, and
a provider's bounce is the real deliverability test). Normalisation is email-validator's:
the domain lower-cased and IDNA-encoded where needed, the local part kept as written, as
RFC 5321 allows it to be case-sensitive. Suppression is stricter and compares whole
addresses case-insensitively, by hash, so an erased address stays blocked in any case.
"""

from __future__ import annotations

import hashlib

from email_validator import EmailNotValidError, validate_email

MAX_NAME_LENGTH = 100


class InvalidAddress(ValueError):
    """The text is not an email address; the message says why in plain words."""


def normalize(address: str) -> str:
    """The normalised form of ``address``; ``InvalidAddress`` when it is not one."""
    try:
        result = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from exc
    return str(result.normalized)


def address_hash(address: str) -> str:
    """What the suppression list keeps once an address's personal data is erased."""
    return hashlib.sha256(address.strip().casefold().encode()).hexdigest()


def clean_name(name: str | None) -> str | None:
    """A display name on one line, at most ``MAX_NAME_LENGTH`` characters; empty is None."""
    if name is None:
        return None
    cleaned = " ".join(name.split())[:MAX_NAME_LENGTH]
    return cleaned or None


def ascii_form(address: str) -> str | None:
    """The address as a mail header needs it (IDNA domain); None if its local part is not
    ASCII, which only SMTPUTF8 servers accept and digest's message builder refuses."""
    try:
        result = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from exc
    return str(result.ascii_email) if result.ascii_email else None
