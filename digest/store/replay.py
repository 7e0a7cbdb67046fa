"""One-time webhook tokens, remembered in the database so a replay is refused anywhere. I/O.

Mailgun signs each request over a timestamp and a random token; a request captured in
transit would verify again until its timestamp goes stale. ``claim`` inserts the token's
hash and answers False if any web process claimed it before, which the database decides
(primary key, insert-or-nothing), so copies of the app behind a proxy agree. ``release``
gives a token back when the request could not be processed, so the provider's retry of the
same signed request is not mistaken for a replay. Tokens older than ``keep`` (far beyond the
freshness tolerance, after which a replay is refused as stale anyway) are pruned as new ones
arrive.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from digest.store.ledger_schema import webhook_tokens

KEEP = timedelta(days=1)


class ReplayGuard:
    def __init__(self, engine: Engine, keep: timedelta = KEEP) -> None:
        self.engine = engine
        self.keep = keep

    def claim(self, provider: str, token: str, now: datetime) -> bool:
        """True the first time this provider's token is seen; False for a replay."""
        with self.engine.begin() as conn:
            conn.execute(delete(webhook_tokens).where(webhook_tokens.c.seen_at < now - self.keep))
            insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
            statement = (
                insert(webhook_tokens)
                .values(provider=provider, token_hash=_hash(token), seen_at=now)
                .on_conflict_do_nothing()
                .returning(webhook_tokens.c.token_hash)  # psycopg's rowcount says -1 here
            )
            return conn.execute(statement).first() is not None

    def release(self, provider: str, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(webhook_tokens).where(
                    webhook_tokens.c.provider == provider,
                    webhook_tokens.c.token_hash == _hash(token),
                )
            )


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
