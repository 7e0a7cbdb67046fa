"""``POST /webhooks/{provider}``: bounces, complaints and deliveries reported by providers. I/O.

For Postmark, SendGrid, Mailgun and Resend, in this order:

1. the raw body is read as sent (signatures cover its exact bytes);
2. the request is verified with that provider's scheme (``digest.deliver.webhook_auth``):
   bad or missing credentials answer 401; a provider we do not know, or whose secret is not
   set, answers 404 saying which setting would enable it, so no unverified event is taken;
3. the body is parsed (``digest.deliver.events``); one not in the provider's shape is a 400;
4. a one-time token (Mailgun's) is claimed in the database; a replayed one is a 401;
5. each event is applied and stored (``digest.deliver.feedback``). If that fails, the answer
   is 500, so the provider retries, and the token is given back for that retry.

Answers are small JSON objects, never pages: providers read status codes, people read
logs. The route needs no cookie and no CSRF token: the signature is the authority. Secrets
are decoded when the app is built, so a malformed one stops ``digest serve`` at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from digest.deliver.events import PARSERS, ProviderEvent
from digest.deliver.feedback import Feedback
from digest.deliver.webhook_auth import (
    sendgrid_key,
    svix_key,
    verify_basic_auth,
    verify_mailgun,
    verify_sendgrid,
    verify_svix,
)
from digest.errors import MalformedWebhook, WebhookAuthError
from digest.settings import Settings
from digest.store.replay import ReplayGuard
from digest.wiring import Parts

log = logging.getLogger(__name__)

Verify = Callable[[bytes, Mapping[str, str], datetime], str | None]
"""Raises ``WebhookAuthError``; returns the request's one-time token where the scheme has one."""

SETTINGS = {
    "postmark": "DIGEST_POSTMARK_WEBHOOK_USERNAME and DIGEST_POSTMARK_WEBHOOK_PASSWORD",
    "sendgrid": "DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY",
    "mailgun": "DIGEST_MAILGUN_WEBHOOK_SIGNING_KEY",
    "resend": "DIGEST_RESEND_WEBHOOK_SECRET",
}

router = APIRouter()


@router.post("/webhooks/{provider}", include_in_schema=False)
async def receive(provider: str, request: Request) -> JSONResponse:
    body = await request.body()
    webhooks: Webhooks = request.app.state.webhooks
    return await run_in_threadpool(webhooks.handle, provider, body, request.headers)


@dataclass(frozen=True)
class Webhooks:
    verifiers: dict[str, Verify]  # the providers whose secret is configured
    feedback: Feedback
    replay: ReplayGuard
    clock: Callable[[], datetime]

    def handle(self, provider: str, body: bytes, headers: Mapping[str, str]) -> JSONResponse:
        verify = self.verifiers.get(provider)
        if verify is None:
            return _answer(404, _not_here(provider))
        now = self.clock()
        try:
            token = verify(body, headers, now)
            events = PARSERS[provider](body, headers)
        except WebhookAuthError as exc:
            log.warning("webhook from %s refused: %s", provider, exc)
            return _answer(401, str(exc))
        except MalformedWebhook as exc:
            log.warning("webhook from %s malformed: %s", provider, exc)
            return _answer(400, str(exc))
        return self._take(provider, events, token, now)

    def _take(
        self, provider: str, events: list[ProviderEvent], token: str | None, now: datetime
    ) -> JSONResponse:
        """Claim the one-time token, if any, then apply and store; a failure gives it back."""
        claimed = False
        try:
            if token is not None:
                claimed = self.replay.claim(provider, token, now)
                if not claimed:
                    log.warning("webhook from %s refused: token seen before", provider)
                    return _answer(401, "this signed request was received before (replay)")
            applied = self.feedback.take(events)
        except Exception:
            log.exception("webhook from %s could not be processed", provider)
            if claimed and token is not None:
                with suppress(Exception):  # the retry then fails as a replay: still logged
                    self.replay.release(provider, token)
            return _answer(500, "the events could not be processed; the provider will retry")
        return JSONResponse(
            {"received": len(events), "new": applied.new, "duplicates": applied.duplicates}
        )


def build_webhooks(parts: Parts) -> Webhooks:
    feedback = Feedback(
        parts.event_store(),
        parts.subscribers,
        parts.ledger(),
        parts.settings.soft_bounce_limit,
    )
    return Webhooks(
        verifiers(parts.settings), feedback, parts.replay_guard(), parts.subscribers.clock
    )


def verifiers(settings: Settings) -> dict[str, Verify]:
    """One check per provider whose secret is set; keys decoded (and checked) once, here."""
    found: dict[str, Verify] = {}
    user, password = settings.postmark_webhook_username, settings.postmark_webhook_password
    if user and password:
        found["postmark"] = partial(verify_basic_auth, (user, password))
    if settings.sendgrid_webhook_public_key:
        found["sendgrid"] = partial(
            verify_sendgrid, sendgrid_key(settings.sendgrid_webhook_public_key)
        )
    if settings.mailgun_webhook_signing_key:
        found["mailgun"] = partial(verify_mailgun, settings.mailgun_webhook_signing_key)
    if settings.resend_webhook_secret:
        found["resend"] = partial(verify_svix, svix_key(settings.resend_webhook_secret))
    return found


def _not_here(provider: str) -> str:
    if provider in SETTINGS:
        return f"webhooks from {provider} are not configured here: set {SETTINGS[provider]}"
    known = ", ".join(SETTINGS)
    return f"no webhook for {provider!r}; digest takes webhooks from {known}"


def _answer(status: int, error: str) -> JSONResponse:
    return JSONResponse({"error": error}, status_code=status)
