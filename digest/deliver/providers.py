"""Choosing and building the provider named by the settings, checked before any claim.

A missing or malformed setting for the chosen provider raises ``ProviderConfigError`` that
names it, so ``digest send`` stops before a single ledger row is claimed.
"""

from __future__ import annotations

from digest.deliver.base import Provider
from digest.deliver.outbox import Outbox, OutboxProvider
from digest.errors import ProviderConfigError
from digest.settings import Settings

PROVIDERS = ("outbox", "smtp", "postmark", "sendgrid", "mailgun", "resend")


def make_provider(settings: Settings, name: str | None = None) -> Provider:
    chosen = name or settings.provider
    if chosen not in PROVIDERS:
        raise ProviderConfigError(
            f"unknown provider {chosen!r}; choose one of {', '.join(PROVIDERS)} "
            "(setting DIGEST_PROVIDER or --provider)"
        )
    if chosen == "outbox":
        return OutboxProvider(Outbox(settings.outbox))
    raise ProviderConfigError(f"the {chosen} provider is not available yet")
