"""The web app's rate limiter on both databases: fixed windows, one atomic count per hit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from digest.web.ratelimit import RateLimiter, Rule, window_start
from subscribers.schema import rate_limits

START = datetime(2026, 3, 1, 9, 59, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def test_windows_are_fixed_and_aligned() -> None:
    hour = timedelta(hours=1)
    assert window_start(START, hour) == datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert window_start(START, timedelta(minutes=15)) == datetime(2026, 3, 1, 9, 45, tzinfo=UTC)


def test_counts_per_key_and_opens_a_new_window(engine: Engine) -> None:
    clock = Clock()
    limiter = RateLimiter(engine, clock)
    rule = Rule("signup", 2)
    assert [limiter.hit(rule, "a") for _ in range(3)] == [True, True, False]
    assert limiter.hit(rule, "b")  # another key has its own count
    assert limiter.hit(Rule("other", 1), "a")  # and another rule
    assert limiter.retry_after(rule) == 30
    clock.now += timedelta(seconds=31)  # 10:00:01, a new window
    assert limiter.hit(rule, "a")
    with engine.connect() as conn:
        starts = conn.execute(
            select(rate_limits.c.window_start).where(rate_limits.c.key.like("signup:%"))
        ).scalars()
        assert set(starts) == {datetime(2026, 3, 1, 10, tzinfo=UTC)}  # the old one is gone
        assert (
            conn.execute(
                select(rate_limits.c.count).where(rate_limits.c.key == "other:a")
            ).scalar_one()
            == 1
        )  # other rules keep their windows


def test_concurrent_hits_are_each_counted_once(engine: Engine) -> None:
    limiter = RateLimiter(engine, Clock())
    rule = Rule("burst", 10)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: limiter.hit(rule, "k"), range(40)))
    assert results.count(True) == 10
    with engine.connect() as conn:
        total = conn.execute(select(func.sum(rate_limits.c.count))).scalar_one()
    assert total == 40
