"""Choosing and building the provider named by the settings, checked before any claim.

Every adapter checks its own required settings in its constructor and raises
``ProviderConfigError`` naming the one that is missing, so ``digest send`` builds the
provider first and stops before a single ledger row is claimed.
"""

from __future__ import annotations

import httpx

from digest.deliver import mailgun, postmark, resend, sendgrid
from digest.deliver.base import Provider
from digest.deliver.http import Backoff, CallObserver, RateLimit
from digest.deliver.mailgun import MailgunProvider
from digest.deliver.outbox import Outbox, OutboxProvider
from digest.deliver.postmark import PostmarkProvider
from digest.deliver.resend import ResendProvider
from digest.deliver.sendgrid import SendGridProvider
from digest.deliver.smtp import SmtpProvider
from digest.errors import ProviderConfigError
from digest.settings import Settings

PROVIDERS = ("outbox", "smtp", "postmark", "sendgrid", "mailgun", "resend")
DEFAULT_RATES = {"postmark": 500.0, "sendgrid": 10_000.0, "mailgun": 5_000.0, "resend": 200.0}


def http_client(settings: Settings) -> httpx.AsyncClient:
    """The one client every API provider shares (connection pooling, keep-alive)."""
    limits = httpx.Limits(
        max_connections=settings.send_calls * 2, max_keepalive_connections=settings.send_calls
    )
    return httpx.AsyncClient(timeout=settings.provider_timeout, limits=limits, trust_env=False)


def make_provider(
    settings: Settings,
    client: httpx.AsyncClient,
    name: str | None = None,
    message_stream: str | None = None,
    *,
    observer: CallObserver | None = None,
) -> Provider:
    """``observer`` (the metrics) hears every HTTP attempt; SMTP and the outbox make none."""
    chosen = name or settings.provider
    if chosen not in PROVIDERS:
        raise ProviderConfigError(
            f"unknown provider {chosen!r}; choose one of {', '.join(PROVIDERS)} "
            "(setting DIGEST_PROVIDER or --provider)"
        )
    if chosen == "outbox":
        return OutboxProvider(Outbox(settings.outbox))
    if chosen == "smtp":
        return _smtp(settings)
    return _api(settings, client, chosen, message_stream, observer)


def _smtp(settings: Settings) -> Provider:
    return SmtpProvider(
        host=settings.smtp_host or "",
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        security=settings.smtp_security,
        timeout=settings.provider_timeout,
        connections=settings.smtp_connections,
        bounce_address=settings.smtp_bounce_address,
    )


def _api(
    settings: Settings,
    client: httpx.AsyncClient,
    name: str,
    message_stream: str | None,
    observer: CallObserver | None,
) -> Provider:
    rate = RateLimit(settings.send_rate or DEFAULT_RATES[name], settings.send_calls)
    backoff = Backoff(
        max_attempts=settings.provider_max_attempts, max_wait=settings.provider_max_wait
    )
    base = settings.provider_base_url
    policy = settings.uncertain_policy
    if name == "postmark":
        return PostmarkProvider(
            client,
            server_token=settings.postmark_server_token or "",
            message_stream=message_stream or settings.postmark_message_stream,
            rate_limit=rate,
            backoff=backoff,
            base_url=base or postmark.DEFAULT_BASE_URL,
            uncertain_policy=policy,
            observer=observer,
        )
    if name == "sendgrid":
        return SendGridProvider(
            client,
            api_key=settings.sendgrid_api_key or "",
            rate_limit=rate,
            backoff=backoff,
            base_url=base or sendgrid.DEFAULT_BASE_URL,
            uncertain_policy=policy,
            observer=observer,
        )
    if name == "mailgun":
        return MailgunProvider(
            client,
            api_key=settings.mailgun_api_key or "",
            domain=settings.mailgun_domain or "",
            per_recipient_headers=settings.mailgun_per_recipient_headers,
            rate_limit=rate,
            backoff=backoff,
            base_url=base or mailgun.DEFAULT_BASE_URL,
            uncertain_policy=policy,
            observer=observer,
        )
    return ResendProvider(
        client,
        api_key=settings.resend_api_key or "",
        rate_limit=rate,
        backoff=backoff,
        base_url=base or resend.DEFAULT_BASE_URL,
        uncertain_policy=policy,
        observer=observer,
    )
