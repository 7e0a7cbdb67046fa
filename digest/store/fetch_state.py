"""What the last fetch of each source URL returned, for conditional GETs. I/O.

Saving the ETag and Last-Modified of a feed lets the next ingest ask "changed since?" and
get a bodiless 304 when nothing changed, which is what well-behaved feed readers do.
Validators are saved only after the fetched items are stored, so a failed run re-fetches.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select

from digest.sources.fetch import Validators
from digest.store.schema import fetch_state


class FetchStateStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def validators(self, url: str) -> Validators | None:
        with self.engine.connect() as conn:
            query = select(fetch_state.c.etag, fetch_state.c.last_modified)
            row = conn.execute(query.where(fetch_state.c.url == url)).first()
        return Validators(etag=row.etag, last_modified=row.last_modified) if row else None

    def save(self, url: str, validators: Validators, fetched_at: datetime) -> None:
        """A successful fetch: its validators, and the feed's run of failures is over."""
        values = {
            "etag": validators.etag,
            "last_modified": validators.last_modified,
            "fetched_at": fetched_at,
            "failures": 0,
            "last_error": None,
        }
        with self.engine.begin() as conn:
            updated = conn.execute(
                fetch_state.update().where(fetch_state.c.url == url).values(**values)
            )
            if updated.rowcount == 0:
                conn.execute(fetch_state.insert().values(url=url, **values))

    def record_failure(self, url: str, reason: str, failed_at: datetime) -> int:
        """A failed fetch; how many in a row the URL has failed now (ops alert on a run)."""
        with self.engine.begin() as conn:
            updated = conn.execute(
                fetch_state.update()
                .where(fetch_state.c.url == url)
                .values(failures=fetch_state.c.failures + 1, last_error=reason)
            )
            if updated.rowcount == 0:
                conn.execute(
                    fetch_state.insert().values(
                        url=url, fetched_at=failed_at, failures=1, last_error=reason
                    )
                )
            count = conn.execute(
                select(fetch_state.c.failures).where(fetch_state.c.url == url)
            ).scalar_one()
        return int(count)
