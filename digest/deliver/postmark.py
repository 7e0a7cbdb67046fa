"""Postmark: ``POST /email/batch``, up to 500 messages per call, a result per message. I/O.

Postmark cannot merge one body for many recipients (its templates would need the body
stored on their side), so each message carries its own filled-in HTML and text. Messages
are serialised one by one with orjson and joined into the JSON array by hand, so a call is
cut by count (500) and by size without serialising twice. The size cut is 5 MB (about 100
digests), well under the API's 50 MB: every call in flight costs the sender about twice its
size in memory (its body, and asyncio's copy of what the socket has not yet taken), and with
25 MB calls a send of 100,000 peaked over 600 MB; at 5 MB it stays under 300 MB, as fast
(``benchmarks/send_throughput.py``). Each call's body is made only when the call is next.

Each message names the ``MessageStream``: newsletters belong on a broadcast stream, which
Postmark keeps apart from transactional mail (``message_stream``, default "broadcast"). Postmark
writes its own Message-ID, so ours rides in ``X-Digest-Delivery`` and the ledger row's id in
``Metadata`` (Postmark's webhooks send Metadata back).

Postmark's published contract is stale and permissive (no required fields, no MessageStream),
so this adapter refuses a batch with an empty From or To, or an empty stream, itself.

Answers: HTTP 200 with one ``{ErrorCode, Message, MessageID}`` per message, in order
(ErrorCode 0 is sent; 406, an inactive recipient, and others are failures of that message);
422 with one ``{ErrorCode, Message}`` when the whole call is refused. Codes that mean the
account cannot send at all (a sender signature missing or unconfirmed, the account pending
or barred) pause the edition rather than fail every subscriber one by one.
"""

from __future__ import annotations

from collections.abc import Iterator
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
from digest.errors import ProviderAuthError, ProviderConfigError

DEFAULT_BASE_URL = "https://api.postmarkapp.com"
KEY_SETTING = "DIGEST_POSTMARK_SERVER_TOKEN"
MAX_MESSAGES = 500
MAX_REQUEST_BYTES = 5_000_000  # per call; Postmark's own limit is 50 MB, see above
ACCOUNT_CODES = {
    10: "bad or missing server token",
    400: "sender signature not found",
    401: "sender signature not confirmed",
    405: "not allowed to send",
    412: "account pending approval",
    413: "account may not send",
}
"""Per-message codes that no other subscriber would escape: the edition pauses."""
RETRY_CODES = frozenset({100, 429})  # maintenance, rate limit exceeded


class PostmarkProvider(HttpProvider):
    name = "postmark"
    max_batch = MAX_MESSAGES
    idempotent = False

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        server_token: str,
        rate_limit: Limiter,
        backoff: Backoff | None = None,
        base_url: str = DEFAULT_BASE_URL,
        message_stream: str = "broadcast",
        max_request_bytes: int = MAX_REQUEST_BYTES,
        key_setting: str = KEY_SETTING,
        uncertain_policy: UncertainPolicy = "resend",
        timing: Timing | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        if not server_token:
            raise ProviderConfigError(f"{key_setting} is empty: set Postmark's server API token")
        if not message_stream:
            raise ProviderConfigError(
                "DIGEST_POSTMARK_MESSAGE_STREAM is empty: name the server's broadcast stream"
            )
        super().__init__(
            Transport(
                client,
                provider="Postmark",
                key_setting=key_setting,
                rate_limit=rate_limit,
                backoff=backoff,
                retry_uncertain=self.idempotent,
                timing=timing,
                observer=observer,
            ),
            uncertain_policy,
        )
        self.url = base_url.rstrip("/") + "/email/batch"
        self.message_stream = message_stream
        self.max_request_bytes = max_request_bytes
        self._headers = {
            "X-Postmark-Server-Token": server_token,
            "Accept": "application/json",
            "Content-Type": "application/json",
        }

    def build(self, batch: Batch) -> list[Request]:
        return list(self.requests(batch))

    def requests(self, batch: Batch) -> Iterator[Request]:
        """The calls one by one, each call's messages encoded only when it is next.

        A 500-message call of 50 KB digests is 25 MB; made all at once, with four batches
        in flight and asyncio's copy of what the socket has not taken yet, the sender held
        over 600 MB (``benchmarks/send_throughput.py``). Made lazily, a batch in flight holds
        one call. The From and every To are checked before the first call is made, so a bad
        batch is still refused whole.
        """
        shared: dict[str, Any] = {
            "From": sender(batch),
            "Subject": batch.headers.subject,
            "MessageStream": self.message_stream,
        }
        if batch.headers.reply_to:
            shared["ReplyTo"] = batch.headers.reply_to
        for envelope in batch.envelopes:
            recipient(envelope)  # refuses an empty address before anything is sent
        common = [{"Name": k, "Value": v} for k, v in edition_headers(batch).items()]
        encoded = (
            (envelope, orjson.dumps(self.message(batch, envelope, shared, common)))
            for envelope in batch.envelopes
        )
        runs = chunks(
            encoded,
            max_count=MAX_MESSAGES,
            max_bytes=self.max_request_bytes,
            size=lambda item: len(item[1]) + 1,
        )
        for run in runs:
            envelopes = [envelope for envelope, _ in run]
            content = json_array([body for _, body in run])
            run.clear()  # the messages live on in ``content`` only
            yield Request(
                envelopes, HttpCall("POST", self.url, content=content, headers=self._headers)
            )

    def message(
        self,
        batch: Batch,
        envelope: Envelope,
        shared: dict[str, Any],
        common: list[dict[str, str]],
    ) -> dict[str, Any]:
        personal = [{"Name": k, "Value": v} for k, v in personal_headers(envelope).items()]
        return {
            **shared,
            "To": recipient(envelope),
            "HtmlBody": batch.html(envelope),
            "TextBody": batch.text(envelope),
            "Headers": common + personal,
            "Metadata": {"delivery_id": str(envelope.delivery_id)},
        }

    def parse(self, response: httpx.Response, request: Request) -> list[Result]:
        body = response_json(response)
        if response.status_code != 200:
            code, message = _error(body, response)
            if code in ACCOUNT_CODES:
                raise self._paused(code, message)
            if code in RETRY_CODES:
                return retry_all(request, f"Postmark {code}: {message}")
            return fail_all(request, f"Postmark {code}: {message}")
        envelopes = request.envelopes
        if not isinstance(body, list) or len(body) != len(envelopes):
            # 200 means Postmark took the call; without a readable answer per message, the
            # messages count as sent (sending them again could deliver them twice)
            note = f"Postmark answered 200 without one result per message: {response.text[:200]}"
            return [Result(e.delivery_id, Outcome.SENT, error=note) for e in envelopes]
        results = [_result(envelope, item) for envelope, item in zip(envelopes, body, strict=True)]
        codes = {item.get("ErrorCode") for item in body if isinstance(item, dict)}
        if len(codes) == 1 and (code := codes.pop()) in ACCOUNT_CODES:
            raise self._paused(code, str(body[0].get("Message", "")))
        return results

    def _paused(self, code: int, message: str) -> ProviderAuthError:
        return ProviderAuthError(
            f"Postmark refused to send ({code}, {ACCOUNT_CODES[code]}): {message}. Check the "
            f"sender signature of the newsletter's From address and the token in {KEY_SETTING}."
        )


def json_array(items: list[bytes]) -> bytes:
    """``[a,b,...]`` from encoded items, copying each once (not join, then concatenate)."""
    pieces = [b"["]
    for item in items:
        pieces += [item, b","]
    pieces[-1] = b"]" if items else b"[]"
    return b"".join(pieces)


def _error(body: Any, response: httpx.Response) -> tuple[int | None, str]:
    if isinstance(body, dict):
        code = body.get("ErrorCode")
        message = body.get("Message")
        return (code if isinstance(code, int) else None), str(message or response.reason_phrase)
    return None, f"HTTP {response.status_code}: {response.text[:200] or response.reason_phrase}"


def _result(envelope: Envelope, item: Any) -> Result:
    if not isinstance(item, dict):
        return Result(envelope.delivery_id, Outcome.SENT, error=f"unreadable result {item!r}")
    code = item.get("ErrorCode", 0)
    message_id = item.get("MessageID")
    if code == 0:
        return Result(envelope.delivery_id, Outcome.SENT, provider_message_id=message_id)
    outcome = Outcome.RETRY if code in RETRY_CODES else Outcome.FAILED
    return Result(envelope.delivery_id, outcome, error=f"Postmark {code}: {item.get('Message')}")
