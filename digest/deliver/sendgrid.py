"""SendGrid: ``POST /v3/mail/send``, one body for up to 1,000 personalizations per call. I/O.

SendGrid merges server-side: the variant's compiled HTML and text go up once per call with
their ``%%P.field.slot%%`` placeholders left in, and each personalization carries the
recipient's ``substitutions``: the placeholder strings as keys, the values escaped for the
slot each sits in (``PersonalTemplate.slot_values``, the same escaping as ``fill``), so the
message SendGrid builds is byte for byte the copy digest would have made. A recipient then
costs a few hundred bytes of upload instead of the whole ~100 KB message.

What each personalization carries, per the contract (``tsg_mail_v3.yaml``):

- ``to``: the subscriber, with their name;
- ``substitutions``: the body's personal values; SendGrid caps them at 10,000 bytes per
  personalization, so a recipient whose values would pass that (very long names or links)
  falls back to a call of their own with the body filled in and no substitutions;
- ``headers``: ``List-Unsubscribe`` (their own one-click URL) and ``X-Digest-Delivery``;
  headers are per personalization in the API, so no substitution is needed for them;
- ``custom_args``: the ledger row's ``delivery_id``, which SendGrid's event webhook sends back.

``List-Unsubscribe-Post`` and ``List-Id`` are message-level ``headers``. SendGrid builds its
own Message-ID. The content is ordered text/plain, then text/html, as SendGrid requires.

Answers: 202 means every personalization was accepted (``X-Message-Id`` names the call).
A 400 lists ``errors`` with a ``field`` such as ``personalizations.3.to.0.email``: SendGrid
sends nothing from a refused call, so the recipients it names fail with its message and the
others are sent again at once without them (a few rounds at most); errors that name no
personalization fail the whole call.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson

from digest.deliver.base import Batch, Envelope, Outcome, Request, Result
from digest.deliver.fields import edition_headers, personal_headers, sender
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
    provider_message,
    response_json,
)
from digest.errors import ProviderConfigError
from digest.render.personal import FIELDS, Slot, placeholder

DEFAULT_BASE_URL = "https://api.sendgrid.com"
KEY_SETTING = "DIGEST_SENDGRID_API_KEY"
MAX_PERSONALIZATIONS = 1000
MAX_SUBSTITUTION_BYTES = 10_000  # per personalization, per the contract
MAX_REQUEST_BYTES = 28_000_000  # SendGrid takes 30 MB per call
REFUSED_WITH_OTHERS = "not sent: SendGrid refused the call for other recipients in it"
_PLACEHOLDERS = {(field, slot): placeholder(field, slot) for field in FIELDS for slot in Slot}
"""Every placeholder, made once: ``substitutions`` runs for every recipient."""
_FIELD = re.compile(r"^personalizations\.(\d+)\b")
_ROUNDS = 3


class SendGridProvider(HttpProvider):
    name = "sendgrid"
    max_batch = MAX_PERSONALIZATIONS
    idempotent = False

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
            raise ProviderConfigError(f"{key_setting} is empty: set a SendGrid API key")
        super().__init__(
            Transport(
                client,
                provider="SendGrid",
                key_setting=key_setting,
                rate_limit=rate_limit,
                backoff=backoff,
                retry_uncertain=self.idempotent,
                timing=timing,
                observer=observer,
            ),
            uncertain_policy,
        )
        self.url = base_url.rstrip("/") + "/v3/mail/send"
        self.max_request_bytes = max_request_bytes
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
        }

    def build(self, batch: Batch) -> list[Request]:
        return self._requests(batch, batch.envelopes)

    def _requests(self, batch: Batch, envelopes: list[Envelope]) -> list[Request]:
        merged: list[tuple[Envelope, bytes]] = []
        alone: list[Envelope] = []
        for envelope in envelopes:
            substitutions = self.substitutions(batch, envelope)
            if _too_big(substitutions):
                alone.append(envelope)
            else:
                merged.append((envelope, orjson.dumps(_personalization(envelope, substitutions))))
        requests: list[Request] = []
        if merged:
            variant = batch.variant
            shared = orjson.dumps(self.message(batch, variant.html.marked(), variant.text.marked()))
            runs = chunks(
                merged,
                max_count=MAX_PERSONALIZATIONS,
                max_bytes=self.max_request_bytes - len(shared),
                size=lambda item: len(item[1]) + 1,
            )
            for run in runs:
                people = b",".join(body for _, body in run)
                content = b'{"personalizations":[' + people + b"]," + shared[1:]
                requests.append(self._request([e for e, _ in run], content))
        for envelope in alone:
            body = self.message(batch, batch.html(envelope), batch.text(envelope))
            body["personalizations"] = [_personalization(envelope, {})]
            requests.append(self._request([envelope], orjson.dumps(body)))
        return requests

    def _request(self, envelopes: list[Envelope], content: bytes) -> Request:
        return Request(
            envelopes, HttpCall("POST", self.url, content=content, headers=self._headers)
        )

    def message(self, batch: Batch, html: str, text: str) -> dict[str, Any]:
        """The message-level fields around a body (marked for substitution, or filled in)."""
        sender(batch)  # refuses an empty From
        headers = batch.headers
        message: dict[str, Any] = {
            "from": {"email": headers.from_address, "name": headers.from_name}
            if headers.from_name
            else {"email": headers.from_address},
            "subject": headers.subject,
            "content": [
                {"type": "text/plain", "value": text},
                {"type": "text/html", "value": html},
            ],
            "headers": edition_headers(batch),
        }
        if headers.reply_to:
            message["reply_to"] = {"email": headers.reply_to}
        return message

    @staticmethod
    def substitutions(batch: Batch, envelope: Envelope) -> dict[str, str]:
        """Placeholder -> escaped value, for every placeholder of the HTML and text."""
        variant = batch.variant
        values = variant.html.slot_values(envelope.values)
        values.update(variant.text.slot_values(envelope.values))
        return {_PLACEHOLDERS[key]: value for key, value in values.items()}

    async def post(self, request: Request, batch: Batch) -> list[Result]:
        results = await super().post(request, batch)
        for _ in range(_ROUNDS):
            again = [r.delivery_id for r in results if r.error == REFUSED_WITH_OTHERS]
            if not again or len(again) == len(results):
                break
            done = {r.delivery_id: r for r in results if r.error != REFUSED_WITH_OTHERS}
            ids = set(again)
            retried: list[Result] = []
            for sub in self._requests(
                batch, [e for e in request.envelopes if e.delivery_id in ids]
            ):
                retried += await super().post(sub, batch)
            done.update({r.delivery_id: r for r in retried})
            results = [done[e.delivery_id] for e in request.envelopes]
        return results  # any still refused with others stay RETRY: sent on a later claim

    def parse(self, response: httpx.Response, request: Request) -> list[Result]:
        envelopes = request.envelopes
        if response.is_success:
            message_id = response.headers.get("x-message-id")
            return [
                Result(e.delivery_id, Outcome.SENT, provider_message_id=message_id)
                for e in envelopes
            ]
        body = response_json(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        named: dict[int, list[str]] = {}
        unnamed: list[str] = []
        for error in errors if isinstance(errors, list) else []:
            if not isinstance(error, dict):
                continue
            message = str(error.get("message") or "refused")
            match = _FIELD.match(str(error.get("field") or ""))
            if match and int(match.group(1)) < len(envelopes):
                named.setdefault(int(match.group(1)), []).append(message)
            else:
                unnamed.append(f"{error.get('field') or 'request'}: {message}")
        if unnamed or not named:
            reason = "; ".join(unnamed) if unnamed else provider_message(response, "message")
            return fail_all(request, f"SendGrid HTTP {response.status_code}: {reason}")
        return [
            Result(e.delivery_id, Outcome.FAILED, error="SendGrid: " + "; ".join(named[i]))
            if i in named
            else Result(e.delivery_id, Outcome.RETRY, error=REFUSED_WITH_OTHERS)
            for i, e in enumerate(envelopes)
        ]


def _personalization(envelope: Envelope, substitutions: dict[str, str]) -> dict[str, Any]:
    to: dict[str, str] = {"email": envelope.to_address}
    if envelope.to_name:
        to["name"] = envelope.to_name
    personalization: dict[str, Any] = {
        "to": [to],
        "headers": personal_headers(envelope),
        "custom_args": {"delivery_id": str(envelope.delivery_id)},
    }
    if substitutions:
        personalization["substitutions"] = substitutions
    return personalization


def _too_big(substitutions: dict[str, str]) -> bool:
    """True when the substitutions pass SendGrid's limit (keys and values, UTF-8 bytes).

    Asked for every recipient, so the cheap bound first: no character takes more than 4
    bytes, so a recipient whose characters times 4 fit the limit fits it (nearly everyone).
    """
    characters = sum(len(k) + len(v) for k, v in substitutions.items())
    if 4 * characters <= MAX_SUBSTITUTION_BYTES:
        return False
    size = sum(len(k.encode()) + len(v.encode()) for k, v in substitutions.items())
    return size > MAX_SUBSTITUTION_BYTES
