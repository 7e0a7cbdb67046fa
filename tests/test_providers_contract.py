"""Each email-API adapter against its provider's own OpenAPI contract, served by Prism.

A batch of a really rendered edition goes through the adapter to Prism; every answer must
be free of contract violations (Prism reports them in ``sl-violations``, or in a problem
body where the contract defines no error answer), and every recipient must come back sent.
A deliberately broken payload, posted with the same client, must be reported, which shows
the check is live. Where the adapter merges server-side (SendGrid, Mailgun), the test also
merges the payload the way the provider documents it and compares with digest's own copy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from batches import envelope, make_batch
from prism import Prism, prism_fixture

from digest.deliver.base import Batch, Outcome, Result
from digest.deliver.http import HttpCall, HttpProvider, RateLimit
from digest.deliver.mailgun import MailgunProvider
from digest.deliver.postmark import PostmarkProvider
from digest.deliver.resend import ResendProvider
from digest.deliver.sendgrid import SendGridProvider
from digest.errors import ProviderConfigError

postmark = prism_fixture("postmark", "postmark-server-openapi3.json")
sendgrid = prism_fixture("sendgrid", "tsg_mail_v3.yaml")
mailgun = prism_fixture("mailgun", "mailgun-openapi.prism.yaml")
resend = prism_fixture("resend", "resend.yaml")

Factory = Callable[[httpx.AsyncClient], HttpProvider]


class Wire:
    """Every request and answer that went over the client, through its event hooks."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.responses: list[httpx.Response] = []

    async def on_request(self, request: httpx.Request) -> None:
        await request.aread()  # multipart bodies stream; keep a copy to look at
        self.requests.append(request)

    async def on_response(self, response: httpx.Response) -> None:
        await response.aread()
        self.responses.append(response)

    def client(self, base_url: str = "") -> httpx.AsyncClient:
        hooks: dict[str, list[Callable[[Any], Awaitable[None]]]] = {
            "request": [self.on_request],
            "response": [self.on_response],
        }
        return httpx.AsyncClient(base_url=base_url, timeout=10, event_hooks=hooks)


def violations(response: httpx.Response) -> list[Any]:
    """Prism's contract violations for one answer: its header, or its own problem body."""
    header = response.headers.get("sl-violations")
    if header:
        found: list[Any] = json.loads(header)
        return found
    if "stoplight.io/prism/errors" in response.text:  # no error answer in the contract
        problem = response.json()
        return list(problem.get("validation") or [problem["title"]])
    return []


def limit() -> RateLimit:
    return RateLimit(math.inf, 4)


def send(factory: Factory, batch: Batch) -> tuple[list[Result], Wire]:
    wire = Wire()

    async def run() -> list[Result]:
        async with wire.client() as client:
            return await factory(client).send(batch)

    return asyncio.run(run()), wire


def assert_clean(results: list[Result], wire: Wire, batch: Batch) -> None:
    assert wire.responses, "nothing was sent"
    for response in wire.responses:
        assert violations(response) == [], response.text
    assert [r.delivery_id for r in results] == [e.delivery_id for e in batch.envelopes]
    assert {r.outcome for r in results} == {Outcome.SENT}


def post_invalid(
    prism: Prism, call: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
) -> httpx.Response:
    async def run() -> httpx.Response:
        async with Wire().client(prism.url) as client:
            return await call(client)

    response = asyncio.run(run())
    assert response.status_code in (400, 422), response.text
    assert violations(response), response.text
    return response


# -- Postmark -------------------------------------------------------------------------------


def postmark_provider(prism: Prism) -> Factory:
    return lambda client: PostmarkProvider(
        client, server_token="pm-token", rate_limit=limit(), base_url=prism.url
    )


def test_postmark_batch_meets_the_contract(postmark: Prism) -> None:
    batch = make_batch(3)
    results, wire = send(postmark_provider(postmark), batch)
    assert_clean(results, wire, batch)
    (request,) = wire.requests
    assert request.url.path == "/email/batch"
    assert request.headers["X-Postmark-Server-Token"] == "pm-token"
    messages = json.loads(request.content)
    # the contract requires nothing, so the test checks what Postmark itself requires
    for message, env in zip(messages, batch.envelopes, strict=True):
        assert message["From"] == "The Meridian Review <digest@meridian.example>"
        assert env.to_address in message["To"]
        assert message["MessageStream"] == "broadcast"
        assert message["Subject"] == batch.headers.subject
        assert message["HtmlBody"] == batch.html(env)
        assert message["TextBody"] == batch.text(env)
        headers = {h["Name"]: h["Value"] for h in message["Headers"]}
        assert headers["List-Unsubscribe"] == env.list_unsubscribe()
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert headers["X-Digest-Delivery"] == env.message_id
        assert message["Metadata"] == {"delivery_id": str(env.delivery_id)}


def test_postmark_invalid_payload_is_reported(postmark: Prism) -> None:
    post_invalid(
        postmark,
        lambda client: client.post(
            "/email/batch",
            json=[{"From": 1, "To": ["x"]}],
            headers={"X-Postmark-Server-Token": "t"},
        ),
    )


def test_postmark_adapter_refuses_what_the_stale_contract_lets_through() -> None:
    async def check() -> None:
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderConfigError, match="MESSAGE_STREAM"):
                PostmarkProvider(client, server_token="t", rate_limit=limit(), message_stream="")
            with pytest.raises(ProviderConfigError, match="POSTMARK_SERVER_TOKEN"):
                PostmarkProvider(client, server_token="", rate_limit=limit())
            provider = PostmarkProvider(client, server_token="t", rate_limit=limit())
            batch = make_batch(1)
            batch.headers = dataclasses.replace(batch.headers, from_address="")
            with pytest.raises(ProviderConfigError, match="sender_address"):
                provider.build(batch)
            batch = make_batch(1)
            batch.envelopes = [dataclasses.replace(batch.envelopes[0], to_address="")]
            with pytest.raises(ProviderConfigError, match="no recipient"):
                provider.build(batch)

    asyncio.run(check())


# -- SendGrid -------------------------------------------------------------------------------


def sendgrid_provider(prism: Prism) -> Factory:
    return lambda client: SendGridProvider(
        client, api_key="SG.key", rate_limit=limit(), base_url=prism.url
    )


def test_sendgrid_one_body_for_every_personalization(sendgrid: Prism) -> None:
    batch = make_batch(3)
    results, wire = send(sendgrid_provider(sendgrid), batch)
    assert_clean(results, wire, batch)
    (request,) = wire.requests
    assert request.headers["Authorization"] == "Bearer SG.key"
    body = json.loads(request.content)
    text, html = (part["value"] for part in body["content"])
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
    assert "%%P." in html  # the placeholders go up once, the values per personalization
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    people = body["personalizations"]
    assert len(people) == 3
    for person, env in zip(people, batch.envelopes, strict=True):
        assert person["to"][0]["email"] == env.to_address
        assert person["headers"]["List-Unsubscribe"] == env.list_unsubscribe()
        assert person["custom_args"] == {"delivery_id": str(env.delivery_id)}
        assert merge(html, person["substitutions"]) == batch.html(env)  # as SendGrid merges
        assert merge(text, person["substitutions"]) == batch.text(env)
    upload = len(request.content)
    assert upload < len(batch.html(batch.envelopes[0])) + 3 * 3_000


def test_sendgrid_recipient_past_the_substitution_limit_goes_alone(sendgrid: Prism) -> None:
    batch = make_batch(2)
    giant = envelope(9)
    giant = dataclasses.replace(giant, values={**giant.values, "greeting": "N" * 11_000})
    batch.envelopes.append(giant)
    results, wire = send(sendgrid_provider(sendgrid), batch)
    assert_clean(results, wire, batch)
    assert len(wire.requests) == 2
    alone = json.loads(wire.requests[1].content)
    assert "substitutions" not in alone["personalizations"][0]
    assert alone["content"][1]["value"] == batch.html(giant)


def test_sendgrid_invalid_payload_is_reported(sendgrid: Prism) -> None:
    post_invalid(
        sendgrid,
        lambda client: client.post(
            "/v3/mail/send",
            json={"personalizations": [{"to": [{"email": "a@example.org"}]}], "subject": "s"},
            headers={"Authorization": "Bearer k"},
        ),
    )


def merge(content: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        content = content.replace(key, value)
    return content


# -- Mailgun --------------------------------------------------------------------------------


def mailgun_provider(prism: Prism, per_recipient_headers: bool = True) -> Factory:
    return lambda client: MailgunProvider(
        client,
        api_key="mg-key",
        domain="mg.meridian.example",
        rate_limit=limit(),
        base_url=prism.url,
        per_recipient_headers=per_recipient_headers,
    )


def test_mailgun_one_body_with_recipient_variables(mailgun: Prism) -> None:
    batch = make_batch(3)
    results, wire = send(mailgun_provider(mailgun), batch)
    assert_clean(results, wire, batch)
    (request,) = wire.requests
    assert request.url.path == "/v3/mg.meridian.example/messages"
    assert request.headers["Authorization"].startswith("Basic ")
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert len({r.provider_message_id for r in results}) == 1  # one id for the whole call

    async def build() -> HttpCall:
        async with httpx.AsyncClient() as client:
            (built,) = mailgun_provider(mailgun)(client).build(batch)
            call: HttpCall = built.payload
            return call

    call = asyncio.run(build())
    assert call.data is not None
    assert call.files is not None
    data = dict(call.data)
    files = {name: value for name, (_, value) in call.files}
    assert data["to"].count("@") == 3
    assert data["h:List-Unsubscribe"] == "%recipient.list_unsubscribe%"
    assert data["h:List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert data["v:delivery-id"] == "%recipient.delivery_id%"
    variables = json.loads(data["recipient-variables"])
    for env in batch.envelopes:
        mine = variables[env.to_address]
        assert mine["list_unsubscribe"] == env.list_unsubscribe()
        assert mine["delivery_id"] == str(env.delivery_id)
        assert mailgun_merge(files["html"], mine) == batch.html(env)  # as Mailgun merges
        assert mailgun_merge(files["text"], mine) == batch.text(env)


def test_mailgun_fallback_one_message_per_recipient(mailgun: Prism) -> None:
    batch = make_batch(3)
    results, wire = send(mailgun_provider(mailgun, per_recipient_headers=False), batch)
    assert_clean(results, wire, batch)
    assert len(wire.requests) == 3
    assert b"List-Unsubscribe" in wire.requests[0].content
    assert b"%recipient.list_unsubscribe%" not in wire.requests[0].content


def test_mailgun_invalid_payload_is_reported(mailgun: Prism) -> None:
    post_invalid(
        mailgun,
        lambda client: client.post(
            "/v3/mg.meridian.example/messages",
            data={"to": "a@example.org", "subject": "no sender"},
            files=[("text", (None, "hello"))],
            auth=("api", "k"),
        ),
    )


def mailgun_merge(content: str, variables: dict[str, str]) -> str:
    for key, value in variables.items():
        content = content.replace(f"%recipient.{key}%", value)
    return content


# -- Resend ---------------------------------------------------------------------------------


def resend_provider(prism: Prism) -> Factory:
    return lambda client: ResendProvider(
        client, api_key="re_key", rate_limit=limit(), base_url=prism.url
    )


def test_resend_batch_meets_the_contract(resend: Prism) -> None:
    batch = make_batch(3)
    results, wire = send(resend_provider(resend), batch)
    assert_clean(results, wire, batch)
    (request,) = wire.requests
    assert request.headers["Idempotency-Key"] == batch.key
    assert request.headers["x-batch-validation"] == "permissive"
    emails = json.loads(request.content)
    for email, env in zip(emails, batch.envelopes, strict=True):
        assert env.to_address in email["to"][0]
        assert email["html"] == batch.html(env)
        assert email["headers"]["List-Unsubscribe"] == env.list_unsubscribe()
        assert email["tags"] == [{"name": "delivery_id", "value": str(env.delivery_id)}]


def test_resend_invalid_payload_is_reported(resend: Prism) -> None:
    post_invalid(
        resend,
        lambda client: client.post(
            "/emails/batch",
            json=[{"to": ["a@example.org"], "subject": "no sender", "html": "<p>hi</p>"}],
            headers={"Authorization": "Bearer k"},
        ),
    )


def test_non_ascii_names_and_specials_stay_within_the_contracts(
    postmark: Prism, sendgrid: Prism, mailgun: Prism, resend: Prism
) -> None:
    batch = make_batch(1, start=2)  # 'Zoë "Z" Müller, PhD'
    for factory in (
        postmark_provider(postmark),
        sendgrid_provider(sendgrid),
        mailgun_provider(mailgun),
        resend_provider(resend),
    ):
        results, wire = send(factory, batch)
        assert_clean(results, wire, batch)
