"""Resend: ``POST /emails/batch``, up to 100 messages per call, idempotent by key. I/O.

Resend takes no merge data in a batch, so each email carries its own filled-in HTML and
text, From, To, Subject and headers (``List-Unsubscribe``, ``List-Unsubscribe-Post``,
``List-Id``, ``X-Digest-Delivery``), and the ledger id as a tag (Resend's webhooks send tags
back; tag values may hold only letters, digits, "_" and "-", which an id does).

``Idempotency-Key`` is the batch's key: it names exactly the ledger rows of the claimed batch,
so a retried batch, after a timeout or after a crash, is the same request and Resend sends it
at most once within its 24 hours. That makes the provider ``idempotent``: the transport
retries even uncertain failures (a read timeout) at once. A key longer than Resend's 256
characters is replaced by its SHA-256, which is as deterministic. A batch larger than one
call (more than 100 or too many bytes) gets one key per call, ``KEY/1``, ``KEY/2``.

Calls use ``x-batch-validation: permissive``: in Resend's default strict mode one invalid
email fails the whole call; permissive sends the valid ones and lists the others under
``errors`` by index. Answers: 200 ``{"data": [{"id"}...], "errors": [{"index", "message"}]}``;
409 ``concurrent_idempotent_requests`` (the same key in flight: try again later) or
``invalid_idempotent_request`` (the key was used for another payload: nothing is sent again,
the rows fail with that message for someone to look at); 422 and other 4xx fail the call.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import orjson

from digest.deliver.base import Batch, Envelope, Outcome, Request, Result
from digest.deliver.fields import edition_headers, personal_headers, recipient, sender
from digest.deliver.http import (
    Backoff,
    CallObserver,
    HttpCall,
    HttpProvider,
    Limiter,
    Timing,
    Transport,
    UncertainPolicy,
    chunks,
    fail_all,
    response_json,
    retry_all,
)
from digest.errors import ProviderConfigError

DEFAULT_BASE_URL = "https://api.resend.com"
KEY_SETTING = "DIGEST_RESEND_API_KEY"
MAX_EMAILS = 100
MAX_REQUEST_BYTES = 35_000_000
MAX_KEY = 256


def idempotency_key(key: str) -> str:
    """The batch key as Resend takes it: itself, or its SHA-256 when too long."""
    return key if len(key) <= MAX_KEY else hashlib.sha256(key.encode()).hexdigest()


class ResendProvider(HttpProvider):
    name = "resend"
    max_batch = MAX_EMAILS
    idempotent = True

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str,
        rate_limit: Limiter,
        backoff: Backoff | None = None,
        base_url: str = DEFAULT_BASE_URL,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        key_setting: str = KEY_SETTING,
        uncertain_policy: UncertainPolicy = "resend",
        timing: Timing | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        if not api_key:
            raise ProviderConfigError(f"{key_setting} is empty: set a Resend API key")
        super().__init__(
            Transport(
                client,
                provider="Resend",
                key_setting=key_setting,
                rate_limit=rate_limit,
                backoff=backoff,
                retry_uncertain=self.idempotent,
                timing=timing,
                observer=observer,
            ),
            uncertain_policy,
        )
        self.url = base_url.rstrip("/") + "/emails/batch"
        self.max_request_bytes = max_request_bytes
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "x-batch-validation": "permissive",
        }

    def build(self, batch: Batch) -> list[Request]:
        shared: dict[str, Any] = {"from": sender(batch), "subject": batch.headers.subject}
        if batch.headers.reply_to:
            shared["reply_to"] = batch.headers.reply_to
        common = edition_headers(batch)
        encoded = [
            (envelope, orjson.dumps(self.email(batch, envelope, shared, common)))
            for envelope in batch.envelopes
        ]
        runs = list(
            chunks(
                encoded,
                max_count=MAX_EMAILS,
                max_bytes=self.max_request_bytes,
                size=lambda item: len(item[1]) + 1,
            )
        )
        requests = []
        for number, run in enumerate(runs, start=1):
            key = batch.key if len(runs) == 1 else f"{batch.key}/{number}"
            headers = {**self._headers, "Idempotency-Key": idempotency_key(key)}
            content = b"[" + b",".join(body for _, body in run) + b"]"
            call = HttpCall("POST", self.url, content=content, headers=headers)
            requests.append(Request([envelope for envelope, _ in run], call))
        return requests

    def email(
        self,
        batch: Batch,
        envelope: Envelope,
        shared: dict[str, Any],
        common: dict[str, str],
    ) -> dict[str, Any]:
        return {
            **shared,
            "to": [recipient(envelope)],
            "html": batch.html(envelope),
            "text": batch.text(envelope),
            "headers": {**common, **personal_headers(envelope)},
            "tags": [{"name": "delivery_id", "value": str(envelope.delivery_id)}],
        }

    def parse(self, response: httpx.Response, request: Request) -> list[Result]:
        body = response_json(response)
        envelopes = request.envelopes
        if not response.is_success:
            name, message = _error(body, response)
            reason = f"Resend {response.status_code} {name}: {message}"
            if name == "concurrent_idempotent_requests":
                return retry_all(request, reason)
            return fail_all(request, reason)
        refused: dict[int, str] = {}
        errors = body.get("errors") if isinstance(body, dict) else None
        for error in errors if isinstance(errors, list) else []:
            if isinstance(error, dict) and isinstance(error.get("index"), int):
                refused[error["index"]] = str(error.get("message") or "refused")
        data = body.get("data") if isinstance(body, dict) else None
        ids = [item.get("id") if isinstance(item, dict) else None for item in data or []]
        accepted = [i for i in range(len(envelopes)) if i not in refused]
        if len(ids) != len(accepted):  # 200 all the same: sent, whatever the ids say
            ids = [None] * len(accepted)
        message_ids = dict(zip(accepted, ids, strict=True))
        return [
            Result(e.delivery_id, Outcome.FAILED, error=f"Resend: {refused[i]}")
            if i in refused
            else Result(e.delivery_id, Outcome.SENT, provider_message_id=message_ids[i])
            for i, e in enumerate(envelopes)
        ]


def _error(body: Any, response: httpx.Response) -> tuple[str, str]:
    if isinstance(body, dict):
        return str(body.get("name") or "error"), str(body.get("message") or response.text[:200])
    return "error", response.text[:200] or response.reason_phrase
