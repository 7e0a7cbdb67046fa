"""Rate limits in the database, so any number of stateless web processes share them. I/O.

Fixed windows: a counter per (key, window start), incremented by one atomic
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` that SQLite (3.35+) and PostgreSQL both
run. Two processes hitting the same key at once each get their own count, with no
read-then-write race. A fixed window lets a burst of up to twice the limit straddle a
window edge; for sign-ups (which cost one email each) that is an acceptable price for one
row per key and no background job. Finished windows are deleted when a key opens a new one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from subscribers.schema import rate_limits

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Rule:
    """At most ``limit`` hits per ``window`` for each key of this rule."""

    name: str
    limit: int
    window: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Limits:
    """The web app's limits. Per address: a stranger cannot mail-bomb someone through the
    confirmation mail. Per client: one machine cannot sign up a list of addresses."""

    per_address: Rule = field(default_factory=lambda: Rule("subscribe-address", 5))
    per_client: Rule = field(default_factory=lambda: Rule("subscribe-client", 20))
    # Failed editor logins. Per name: a guesser gets 10 tries a quarter-hour at one account.
    # Per client: one machine cannot spray a common password over many names.
    login_per_name: Rule = field(
        default_factory=lambda: Rule("admin-login-name", 10, timedelta(minutes=15))
    )
    login_per_client: Rule = field(
        default_factory=lambda: Rule("admin-login-client", 30, timedelta(minutes=15))
    )


def window_start(moment: datetime, window: timedelta) -> datetime:
    """The start of the fixed window ``moment`` falls in, counted from the Unix epoch."""
    return EPOCH + ((moment - EPOCH) // window) * window


class RateLimiter:
    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock
        dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
        self._insert: Any = dialect.insert

    def hit(self, rule: Rule, key: str) -> bool:
        """Count one hit of ``key`` under ``rule``; False when that is over the limit."""
        start = window_start(self.clock(), rule.window)
        full_key = f"{rule.name}:{key}"
        statement = (
            self._insert(rate_limits)
            .values(key=full_key, window_start=start, count=1)
            .on_conflict_do_update(
                index_elements=[rate_limits.c.key, rate_limits.c.window_start],
                set_={"count": rate_limits.c.count + 1},
            )
            .returning(rate_limits.c.count)
        )
        with self.engine.begin() as conn:
            count = int(conn.execute(statement).scalar_one())
        if count == 1:  # the key's first hit in this window: a moment to tidy up
            self._forget_before(rule, start)
        return count <= rule.limit

    def exceeded(self, rule: Rule, key: str) -> bool:
        """Whether ``key`` is already over ``rule`` in this window, counting nothing.

        For limits on failures (editor logins): look before trying, ``hit`` after failing.
        Two attempts racing may both pass the look; a few extra tries are the price of not
        counting successes.
        """
        start = window_start(self.clock(), rule.window)
        query = select(rate_limits.c.count).where(
            rate_limits.c.key == f"{rule.name}:{key}", rate_limits.c.window_start == start
        )
        with self.engine.connect() as conn:
            count = conn.execute(query).scalar_one_or_none()
        return count is not None and int(count) >= rule.limit

    def _forget_before(self, rule: Rule, start: datetime) -> None:
        """Delete the rule's finished windows; best effort, in a transaction of its own."""
        finished = rate_limits.delete().where(
            rate_limits.c.key.startswith(f"{rule.name}:", autoescape=True),
            rate_limits.c.window_start < start,
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(finished)
        except DBAPIError:  # another process tidying the same rows: it will finish the job
            return

    def retry_after(self, rule: Rule) -> int:
        """Seconds until the current window of ``rule`` ends (for a Retry-After header)."""
        now = self.clock()
        end = window_start(now, rule.window) + rule.window
        return max(1, math.ceil((end - now).total_seconds()))
