"""Mailgun: ``POST /v3/{domain}/messages``, one body for up to 1,000 recipients per call. I/O.

Mailgun merges server-side with ``recipient-variables``: a JSON object from each recipient's
address to their variables, referenced as ``%recipient.KEY%`` anywhere in the message. The
variant's HTML and text go up once per call with ``%recipient.<field>_<slot>%`` where digest's
placeholders were, and each recipient's variables hold the values escaped for each slot
(``PersonalTemplate.slot_values``, the same escaping as ``fill``): a recipient costs about a
kilobyte of upload instead of the whole message.

Per-recipient headers: Mailgun's batch-sending page documents the variables in the body and
subject only; it does not say whether they are replaced in ``h:`` header fields. django-anymail
(which tests against the live API) relies on it: its per-recipient headers for Mailgun are
``h:Header: %recipient.h:Header%``, and its feature matrix lists Mailgun's merge_headers as
supported. So ``h:List-Unsubscribe`` is ``%recipient.list_unsubscribe%`` here, and the ledger
id travels the same way in ``v:delivery-id`` (custom data, sent back by the webhooks). With
``per_recipient_headers=False`` the adapter falls back to one message per recipient with the
headers written out, for an account where that turns out not to hold.

Recipients go comma-joined in one ``to`` field (Mailgun accepts that, and Prism keeps only the
last of a repeated multipart field). Keys of ``recipient-variables`` are addresses, so two
envelopes with the same address never share a call. Authentication is HTTP Basic
``api:KEY``; the base URL picks the region (``https://api.eu.mailgun.net`` for EU domains).

Answers: 200 ``{"id", "message"}``, one id for the whole call. Mailgun refuses a call as a
whole (400, one message): when the message is about an address and the call has several
recipients, the call is split in halves and each half sent again, down to the recipient at
fault, so one bad address does not fail a thousand good ones. A 404 "domain not found"
is a setting to fix, not a failure per subscriber: it pauses the edition like a refused key.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import httpx
import orjson

from digest.deliver.base import Batch, Envelope, Outcome, Request, Result
from digest.deliver.fields import (
    DELIVERY_HEADER,
    edition_headers,
    personal_headers,
    recipient,
    sender,
)
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
from digest.errors import ProviderAuthError, ProviderConfigError
from digest.render.personal import FIELDS, Slot

DEFAULT_BASE_URL = "https://api.mailgun.net"
KEY_SETTING = "DIGEST_MAILGUN_API_KEY"
DOMAIN_SETTING = "DIGEST_MAILGUN_DOMAIN"
MAX_RECIPIENTS = 1000
MAX_VARIABLE_BYTES = 20_000_000  # Mailgun takes 25 MB per message, body included
_SPLIT_DEPTH = 12  # 2**12 > 1,000 recipients: enough to reach any one of them


def variable(field: str, slot: Slot) -> str:
    """The recipient-variables key of one personal field in one slot."""
    return f"{field}_{slot.value}"


_VARIABLES = {(field, slot): variable(field, slot) for field in FIELDS for slot in Slot}
"""Every key ``variable`` can make, made once: ``variables`` runs for every recipient."""


def _marker(field: str, slot: Slot) -> str:
    return f"%recipient.{variable(field, slot)}%"


class MailgunProvider(HttpProvider):
    name = "mailgun"
    max_batch = MAX_RECIPIENTS
    idempotent = False

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str,
        domain: str,
        rate_limit: Limiter,
        backoff: Backoff | None = None,
        base_url: str = DEFAULT_BASE_URL,
        per_recipient_headers: bool = True,
        key_setting: str = KEY_SETTING,
        uncertain_policy: UncertainPolicy = "resend",
        timing: Timing | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        if not api_key:
            raise ProviderConfigError(f"{key_setting} is empty: set a Mailgun sending API key")
        if not domain or "/" in domain:
            raise ProviderConfigError(
                f"{DOMAIN_SETTING} must be the Mailgun sending domain, such as mg.example.com"
            )
        super().__init__(
            Transport(
                client,
                provider="Mailgun",
                key_setting=key_setting,
                rate_limit=rate_limit,
                backoff=backoff,
                retry_uncertain=self.idempotent,
                timing=timing,
                observer=observer,
            ),
            uncertain_policy,
        )
        self.domain = domain
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/v3/{quote(domain, safe='')}/messages"
        self.per_recipient_headers = per_recipient_headers
        token = base64.b64encode(f"api:{api_key}".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}

    def build(self, batch: Batch) -> list[Request]:
        return self._requests(batch, batch.envelopes)

    def _requests(self, batch: Batch, envelopes: list[Envelope]) -> list[Request]:
        html = batch.variant.html.marked(_marker)
        text = batch.variant.text.marked(_marker)
        shared = self.shared_fields(batch)
        group = MAX_RECIPIENTS if self.per_recipient_headers else 1
        return [
            self._request(batch, run, shared, html, text)
            for unique in _distinct_addresses(envelopes)
            for run in chunks(
                [(e, _entry(e.to_address, self.variables(batch, e))) for e in unique],
                max_count=group,
                max_bytes=MAX_VARIABLE_BYTES,
                size=lambda item: len(item[1]) + 1,
            )
        ]

    def shared_fields(self, batch: Batch) -> dict[str, str]:
        fields = {
            "from": sender(batch),
            "subject": batch.headers.subject,
            "v:delivery-id": "%recipient.delivery_id%",
        }
        fields.update({f"h:{name}": value for name, value in edition_headers(batch).items()})
        if batch.headers.reply_to:
            fields["h:Reply-To"] = batch.headers.reply_to
        return fields

    @staticmethod
    def variables(batch: Batch, envelope: Envelope) -> dict[str, str]:
        """One recipient's entry in ``recipient-variables``."""
        variant = batch.variant
        values = variant.html.slot_values(envelope.values)
        values.update(variant.text.slot_values(envelope.values))
        entry = {_VARIABLES[key]: value for key, value in values.items()}
        entry["delivery_id"] = str(envelope.delivery_id)
        headers = personal_headers(envelope)
        entry["list_unsubscribe"] = headers["List-Unsubscribe"]
        entry["message_id"] = headers[DELIVERY_HEADER]
        return entry

    def _request(
        self,
        batch: Batch,
        run: list[tuple[Envelope, bytes]],
        shared: dict[str, str],
        html: str,
        text: str,
    ) -> Request:
        envelopes = [envelope for envelope, _ in run]
        data = dict(shared)
        data["to"] = ", ".join(recipient(e) for e in envelopes)
        entries = b",".join(entry for _, entry in run)
        data["recipient-variables"] = (b"{" + entries + b"}").decode()
        if self.per_recipient_headers:
            data["h:List-Unsubscribe"] = "%recipient.list_unsubscribe%"
            data[f"h:{DELIVERY_HEADER}"] = "%recipient.message_id%"
        else:  # one recipient per call: the headers written out
            only = envelopes[0]
            data.update({f"h:{k}": v for k, v in personal_headers(only).items()})
        files = [("html", (None, html)), ("text", (None, text))]
        call = HttpCall("POST", self.url, data=data, files=files, headers=self._headers)
        return Request(envelopes, call)

    async def post(self, request: Request, batch: Batch) -> list[Result]:
        return await self._post(request, batch, _SPLIT_DEPTH)

    async def _post(self, request: Request, batch: Batch, depth: int) -> list[Result]:
        results = await super().post(request, batch)
        envelopes = list(request.envelopes)
        if len(envelopes) < 2 or depth == 0 or not _about_an_address(results):
            return results
        middle = len(envelopes) // 2
        halves: list[Result] = []
        for part in (envelopes[:middle], envelopes[middle:]):
            for sub in self._requests(batch, part):
                halves += await self._post(sub, batch, depth - 1)
        return halves

    def parse(self, response: httpx.Response, request: Request) -> list[Result]:
        if response.is_success:
            body = response_json(response)
            message_id = body.get("id") if isinstance(body, dict) else None
            return [
                Result(e.delivery_id, Outcome.SENT, provider_message_id=message_id)
                for e in request.envelopes
            ]
        reason = provider_message(response, "message")
        if response.status_code == 404 and "domain" in reason.lower():
            # raised like a refused key: no subscriber would fare better, the edition pauses
            raise ProviderAuthError(
                f"Mailgun does not know the domain {self.domain!r} at {self.base_url} "
                f"({reason}): check {DOMAIN_SETTING} and DIGEST_MAILGUN_BASE_URL (US or EU region)"
            )
        return fail_all(request, f"Mailgun {reason}")


def _entry(address: str, variables: dict[str, str]) -> bytes:
    """``"address":{...}``, one member of the recipient-variables object, serialised once."""
    return orjson.dumps(address) + b":" + orjson.dumps(variables)


def _about_an_address(results: list[Result]) -> bool:
    """True when Mailgun refused the whole call over an address it did not like."""
    first = results[0] if results else None
    return (
        first is not None
        and first.outcome is Outcome.FAILED
        and "address" in (first.error or "").lower()
        and all(r.error == first.error for r in results)
    )


def _distinct_addresses(envelopes: list[Envelope]) -> list[list[Envelope]]:
    """The envelopes in groups where no address repeats (recipient-variables keys)."""
    groups: list[list[Envelope]] = []
    seen: list[set[str]] = []
    for envelope in envelopes:
        address = envelope.to_address.lower()
        for group, addresses in zip(groups, seen, strict=True):
            if address not in addresses:
                group.append(envelope)
                addresses.add(address)
                break
        else:
            groups.append([envelope])
            seen.append({address})
    return groups
