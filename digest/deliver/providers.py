"""Choosing and building the provider named by the settings, checked before any claim.

Every adapter checks its own required settings in its constructor and raises
``ProviderConfigError`` naming the one that is missing, so ``digest send`` builds the
provider first and stops before a single ledger row is claimed.

The rate limit is per process (``RateLimit``) unless the caller hands in the store's engine
as ``shared_limit_engine``: then it is a ``SharedRateLimit`` row in that database, which
every worker process on every machine spends together (the queue's workers need that).
"""

from __future__ import annotations

import httpx
from sqlalchemy import Engine

from digest.deliver import mailgun, postmark, resend, sendgrid
from digest.deliver.base import Provider
from digest.deliver.http import Backoff, CallObserver, Limiter, RateLimit
from digest.deliver.mailgun import MailgunProvider
from digest.deliver.outbox import Outbox, OutboxProvider
from digest.deliver.postmark import PostmarkProvider
from digest.deliver.resend import ResendProvider
from digest.deliver.sendgrid import SendGridProvider
from digest.deliver.shared_rate import SharedRateLimit
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
    shared_limit_engine: Engine | None = None,
) -> Provider:
    """``observer`` (the metrics) hears every HTTP attempt; SMTP and the outbox make none.

    With ``shared_limit_engine``, an API provider's rate limit is shared through that
    database by every process that builds its provider the same way; without it, each
    process has its own. SMTP and the outbox have no rate limit to share.
    """
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
    rate = _limiter(settings, chosen, shared_limit_engine)
    return _api(settings, client, chosen, message_stream, observer, rate)


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


def _limiter(settings: Settings, name: str, engine: Engine | None) -> Limiter:
    """The provider's budget: one second of its rate may start at once, as in ``RateLimit``."""
    per_second = settings.send_rate or DEFAULT_RATES[name]
    if engine is None:
        return RateLimit(per_second, settings.send_calls)
    burst = max(per_second, 1.0)
    return SharedRateLimit(engine, name, per_second, burst, concurrency=settings.send_calls)


def _api(
    settings: Settings,
    client: httpx.AsyncClient,
    name: str,
    message_stream: str | None,
    observer: CallObserver | None,
    rate: Limiter,
) -> Provider:
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
