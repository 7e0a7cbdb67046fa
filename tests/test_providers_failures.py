"""The API providers against a server of our own that throttles, fails, stalls and hangs up.

Every test ends with each recipient sent, failed with the provider's reason, or left to try
again; and the server never accepted the same recipient twice. Waits go through a fake
clock (``FakeTime``): the backoff and the providers' hints are checked to the second without
the test waiting for them. Only the timeout tests spend real time (a fraction of a second).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from batches import make_batch
from failserver import Accept, FailServer, Reply, Reset, Slow, running

from digest.deliver.base import Batch, Outcome, Result
from digest.deliver.http import Backoff, HttpProvider, RateLimit, RetryExhausted, Timing, Transport
from digest.deliver.mailgun import MailgunProvider
from digest.deliver.postmark import PostmarkProvider
from digest.deliver.resend import ResendProvider
from digest.deliver.sendgrid import SendGridProvider
from digest.errors import DeliveryError, ProviderAuthError, ProviderConfigError

WALL = 1_800_000_000.0  # a whole second, so HTTP-dates (1 s resolution) come out exact


class FakeTime:
    """A clock that only moves when someone sleeps; records every wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds
        await asyncio.sleep(0)

    def timing(self) -> Timing:
        return Timing(sleep=self.sleep, wall_clock=self.wall, draw=lambda: 0.5)

    def limit(self, per_second: float = math.inf, concurrency: int = 4) -> RateLimit:
        return RateLimit(per_second, concurrency, clock=self.monotonic, sleep=self.sleep)


@pytest.fixture
def server() -> Iterator[FailServer]:
    with running() as started:
        yield started


BACKOFF = Backoff(base=1.0, factor=2.0, cap=8.0, max_attempts=4, max_wait=60.0)
Make = Callable[[httpx.AsyncClient, FakeTime], HttpProvider]


def postmark(url: str, **options: Any) -> Make:
    return lambda client, time: PostmarkProvider(
        client,
        server_token="pm-token",
        rate_limit=time.limit(),
        backoff=BACKOFF,
        base_url=url,
        timing=time.timing(),
        **options,
    )


def resend(url: str) -> Make:
    return lambda client, time: ResendProvider(
        client,
        api_key="re_key",
        rate_limit=time.limit(),
        backoff=BACKOFF,
        base_url=url,
        timing=time.timing(),
    )


def sendgrid(url: str) -> Make:
    return lambda client, time: SendGridProvider(
        client,
        api_key="SG.key",
        rate_limit=time.limit(),
        backoff=BACKOFF,
        base_url=url,
        timing=time.timing(),
    )


def mailgun(url: str) -> Make:
    return lambda client, time: MailgunProvider(
        client,
        api_key="mg-key",
        domain="mg.example.com",
        rate_limit=time.limit(),
        backoff=BACKOFF,
        base_url=url,
        timing=time.timing(),
    )


def send(make: Make, batch: Batch, timeout: float = 5.0) -> tuple[list[Result], FakeTime]:
    time = FakeTime()

    async def run() -> list[Result]:
        async with httpx.AsyncClient(timeout=timeout) as client:
            return await make(client, time).send(batch)

    return asyncio.run(run()), time


def outcomes(results: list[Result]) -> list[Outcome]:
    return [r.outcome for r in results]


def addresses(batch: Batch) -> list[str]:
    return [e.to_address for e in batch.envelopes]


# -- throttling -----------------------------------------------------------------------------


def test_429_with_retry_after_seconds_waits_as_told(server: FailServer) -> None:
    server.script(Reply(429, {"ErrorCode": 429, "Message": "slow down"}, {"Retry-After": "7"}))
    batch = make_batch(3)
    results, time = send(postmark(server.url), batch)
    assert outcomes(results) == [Outcome.SENT] * 3
    assert time.sleeps == [7.0]
    assert len(server.requests) == 2
    assert server.twice() == []
    assert sorted(server.accepted) == sorted(addresses(batch))


def test_429_with_retry_after_http_date(server: FailServer) -> None:
    when = formatdate(WALL + 3, usegmt=True)
    server.script(Reply(429, {"message": "rate limited"}, {"Retry-After": when}))
    results, time = send(resend(server.url), make_batch(2))
    assert outcomes(results) == [Outcome.SENT] * 2
    assert time.sleeps == [3.0]
    assert server.twice() == []


def test_rate_limit_reset_header_as_epoch_or_seconds(server: FailServer) -> None:
    sendgrid_style = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(WALL) + 11)}
    resend_style = {"ratelimit-remaining": "0", "ratelimit-reset": "4"}
    server.script(Reply(429, {"errors": []}, sendgrid_style), Reply(429, {}, resend_style))
    results, time = send(sendgrid(server.url), make_batch(2))
    assert outcomes(results) == [Outcome.SENT] * 2
    assert time.sleeps == [11.0, 4.0]
    assert server.twice() == []


def test_a_success_that_spends_the_budget_holds_the_next_call(server: FailServer) -> None:
    async def run(time: FakeTime) -> None:
        async with httpx.AsyncClient() as client:
            transport = Transport(
                client,
                provider="Test",
                key_setting="DIGEST_TEST_KEY",
                rate_limit=time.limit(),
                timing=time.timing(),
            )
            server.script(Reply(200, {}, {"ratelimit-remaining": "0", "ratelimit-reset": "5"}))
            await transport.call("POST", server.url + "/emails/batch", json=[])
            assert time.sleeps == []
            await transport.call("POST", server.url + "/emails/batch", json=[])
            assert time.sleeps == [5.0]

    asyncio.run(run(FakeTime()))


def test_mailgun_try_again_after_n_seconds(server: FailServer) -> None:
    message = (
        "Domain mg.example.com is not allowed to send: account-requests-per-sec limit "
        "exceeded, try again after 12 seconds"
    )
    server.script(Reply(429, {"message": message}))
    batch = make_batch(3)
    results, time = send(mailgun(server.url), batch)
    assert outcomes(results) == [Outcome.SENT] * 3
    assert time.sleeps == [12.0]
    assert server.twice() == []
    assert sorted(server.accepted) == sorted(addresses(batch))


def test_a_wait_longer_than_allowed_leaves_the_batch_for_later(server: FailServer) -> None:
    server.script(Reply(429, {"message": "quota"}, {"Retry-After": "3600"}))
    results, time = send(postmark(server.url), make_batch(2))
    assert outcomes(results) == [Outcome.RETRY] * 2
    assert "HTTP 429" in (results[0].error or "")
    assert time.sleeps == []
    assert server.accepted == {}


# -- server errors --------------------------------------------------------------------------


def test_a_5xx_storm_then_success(server: FailServer) -> None:
    server.script(Reply(503, "busy"), Reply(500, {"Message": "oops"}), Reply(502, "<html>"))
    batch = make_batch(3)
    results, time = send(postmark(server.url), batch)
    assert outcomes(results) == [Outcome.SENT] * 3
    assert time.sleeps == [0.5, 1.0, 2.0]  # full jitter at a draw of 0.5: base * 2**n / 2
    assert server.twice() == []


def test_a_storm_longer_than_the_attempts_leaves_everyone_to_retry(server: FailServer) -> None:
    server.script(*[Reply(503, "busy")] * 4)
    results, time = send(postmark(server.url), make_batch(3))
    assert outcomes(results) == [Outcome.RETRY] * 3
    assert "HTTP 503" in (results[0].error or "")
    assert "4 attempt" in (results[0].error or "")
    assert len(time.sleeps) == 3
    assert server.accepted == {}


def test_backoff_is_capped() -> None:
    backoff = Backoff(base=1.0, factor=3.0, cap=10.0)
    assert [backoff.delay(n, 0.999999) for n in (1, 2, 3, 4)] == pytest.approx(
        [1.0, 3.0, 9.0, 10.0], rel=1e-5
    )
    assert backoff.delay(5, 0.0) == 0.0


# -- timeouts and dropped connections -------------------------------------------------------


def test_slow_answer_without_idempotency_is_not_sent_twice(server: FailServer) -> None:
    server.script(Slow(0.6))
    batch = make_batch(3)
    results, _ = send(postmark(server.url), batch, timeout=0.2)
    assert outcomes(results) == [Outcome.RETRY] * 3  # back to pending, per the policy
    assert "uncertain" in (results[0].error or "")
    assert len(server.requests) == 1  # no immediate second try that could deliver twice
    assert server.twice() == []


def test_slow_answer_under_the_review_policy_fails_for_review(server: FailServer) -> None:
    server.script(Slow(0.6))
    results, _ = send(postmark(server.url, uncertain_policy="review"), make_batch(2), timeout=0.2)
    assert outcomes(results) == [Outcome.FAILED] * 2
    assert "review" in (results[0].error or "")


def test_slow_answer_with_idempotency_key_is_retried_once_delivered(server: FailServer) -> None:
    server.script(Slow(0.6))
    batch = make_batch(3)
    results, _ = send(resend(server.url), batch, timeout=0.2)
    assert outcomes(results) == [Outcome.SENT] * 3
    assert [r.provider_message_id for r in results] == [f"re-{a}" for a in addresses(batch)]
    keys = [seen.headers["idempotency-key"] for seen in server.requests]
    assert keys == [batch.key, batch.key]  # the same request again
    assert server.twice() == []


def test_connection_reset_without_idempotency_is_left_to_the_policy(server: FailServer) -> None:
    server.script(Reset())
    results, _ = send(postmark(server.url), make_batch(2))
    assert outcomes(results) == [Outcome.RETRY] * 2
    assert "connection dropped" in (results[0].error or "")
    assert server.accepted == {}


def test_connection_reset_with_idempotency_key_is_retried(server: FailServer) -> None:
    server.script(Reset(), Reset())
    batch = make_batch(2)
    results, time = send(resend(server.url), batch)
    assert outcomes(results) == [Outcome.SENT] * 2
    assert time.sleeps == [0.5, 1.0]
    assert server.twice() == []


def test_nobody_listening_is_retried_then_left_for_later() -> None:
    with running() as gone:
        url = gone.url
    results, time = send(postmark(url), make_batch(2))
    assert outcomes(results) == [Outcome.RETRY] * 2
    assert "could not connect" in (results[0].error or "")
    assert len(time.sleeps) == BACKOFF.max_attempts - 1


# -- refusals -------------------------------------------------------------------------------


def test_postmark_partial_batch_failure(server: FailServer) -> None:
    batch = make_batch(4)
    bad = batch.envelopes[1].to_address
    server.script(Accept({bad: (406, "You tried to send to a recipient marked as inactive.")}))
    results, _ = send(postmark(server.url), batch)
    assert outcomes(results) == [Outcome.SENT, Outcome.FAILED, Outcome.SENT, Outcome.SENT]
    assert results[1].error == "Postmark 406: You tried to send to a recipient marked as inactive."
    assert results[0].provider_message_id == f"pm-{batch.envelopes[0].to_address}"
    assert bad not in server.accepted
    assert server.twice() == []


def test_postmark_whole_call_refused(server: FailServer) -> None:
    server.script(Reply(422, {"ErrorCode": 300, "Message": "Invalid 'To' address."}))
    results, _ = send(postmark(server.url), make_batch(2))
    assert outcomes(results) == [Outcome.FAILED] * 2
    assert results[0].error == "Postmark 300: Invalid 'To' address."


def test_postmark_account_that_may_not_send_pauses(server: FailServer) -> None:
    server.script(Reply(422, {"ErrorCode": 412, "Message": "Your account is pending approval."}))
    with pytest.raises(ProviderAuthError, match="pending"):
        send(postmark(server.url), make_batch(2))


def test_resend_partial_batch_failure(server: FailServer) -> None:
    batch = make_batch(3)
    bad = batch.envelopes[0].to_address
    server.script(Accept({bad: (422, "Invalid `to` field.")}))
    results, _ = send(resend(server.url), batch)
    assert outcomes(results) == [Outcome.FAILED, Outcome.SENT, Outcome.SENT]
    assert results[0].error == "Resend: Invalid `to` field."
    assert results[2].provider_message_id == f"re-{batch.envelopes[2].to_address}"
    assert server.twice() == []


def test_sendgrid_refusal_naming_one_recipient_sends_the_others(server: FailServer) -> None:
    batch = make_batch(4)
    bad = batch.envelopes[2].to_address
    server.script(Accept({bad: (400, "Does not contain a valid address.")}))
    results, _ = send(sendgrid(server.url), batch)
    assert outcomes(results) == [Outcome.SENT, Outcome.SENT, Outcome.FAILED, Outcome.SENT]
    assert results[2].error == "SendGrid: Does not contain a valid address."
    assert len(server.requests) == 2
    assert sorted(server.accepted) == sorted(a for a in addresses(batch) if a != bad)
    assert server.twice() == []


def test_mailgun_refusal_of_an_address_is_narrowed_down(server: FailServer) -> None:
    batch = make_batch(8)
    bad = batch.envelopes[5].to_address
    server.script(*[Accept({bad: (400, "")})] * 10)  # refuses every call that carries it
    results, _ = send(mailgun(server.url), batch)
    expected = [Outcome.FAILED if e.to_address == bad else Outcome.SENT for e in batch.envelopes]
    assert outcomes(results) == expected
    assert "not a valid address" in (results[5].error or "")
    assert len(server.requests) <= 1 + 2 * 3  # halves down to the one recipient
    assert server.twice() == []


def test_401_pauses_with_the_setting_named(server: FailServer) -> None:
    server.script(Reply(401, {"ErrorCode": 10, "Message": "Bad or missing Server API token."}))
    with pytest.raises(ProviderAuthError, match="DIGEST_POSTMARK_SERVER_TOKEN") as refused:
        send(postmark(server.url), make_batch(2))
    assert "Bad or missing Server API token" in str(refused.value)
    assert server.accepted == {}
    server.script(Reply(401, "Forbidden"))
    with pytest.raises(ProviderAuthError, match="DIGEST_MAILGUN_API_KEY"):
        send(mailgun(server.url), make_batch(2))


def test_mailgun_unknown_domain_pauses_naming_the_domain_setting(server: FailServer) -> None:
    server.script(Reply(404, {"message": "Domain not found: mg.example.com"}))
    with pytest.raises(ProviderAuthError, match="DIGEST_MAILGUN_DOMAIN"):
        send(mailgun(server.url), make_batch(1))


def test_retry_exhausted_keeps_the_last_answer(server: FailServer) -> None:
    async def run(time: FakeTime) -> RetryExhausted:
        async with httpx.AsyncClient() as client:
            transport = Transport(
                client,
                provider="Test",
                key_setting="DIGEST_TEST_KEY",
                rate_limit=time.limit(),
                backoff=Backoff(max_attempts=2),
                timing=time.timing(),
            )
            server.script(Reply(500, "first"), Reply(503, "second"))
            with pytest.raises(RetryExhausted) as caught:
                await transport.call("POST", server.url + "/email/batch", json=[])
            return caught.value

    error = asyncio.run(run(FakeTime()))
    assert isinstance(error, DeliveryError)
    assert (error.status, error.body, error.attempts, error.uncertain) == (503, "second", 2, False)


# -- the rate limit -------------------------------------------------------------------------


def test_rate_limit_spaces_big_batches_to_the_average() -> None:
    async def run(time: FakeTime) -> None:
        limit = time.limit(per_second=100)
        await limit.acquire(500)  # one second of burst is allowed at once
        assert time.sleeps == []
        await limit.acquire(500)  # the 5 s the first one cost, less the burst
        assert time.sleeps == [4.0]
        await limit.acquire(1)
        assert time.sleeps == [4.0, 5.0]
        limit.hold(30)
        await limit.acquire(1)
        assert time.sleeps[-1] == pytest.approx(30.0)

    asyncio.run(run(FakeTime()))


def test_rate_limit_caps_calls_in_flight(server: FailServer) -> None:
    async def run() -> int:
        limit = RateLimit(math.inf, 2)
        peak = 0
        current = 0

        async def call() -> None:
            nonlocal peak, current
            async with limit.slot():
                current += 1
                peak = max(peak, current)
                await asyncio.sleep(0.01)
                current -= 1

        await asyncio.gather(*(call() for _ in range(6)))
        return peak

    assert asyncio.run(run()) == 2
    with pytest.raises(ValueError, match="positive"):
        RateLimit(0, 1)


def test_a_base_url_that_cannot_be_called_is_a_setting_to_fix() -> None:
    with pytest.raises(ProviderConfigError, match="base URL"):
        send(postmark("ftp://127.0.0.1:9"), make_batch(1))
