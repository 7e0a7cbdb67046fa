"""Editions counted per newsletter, for the metrics scrape. I/O.

``EditionStore.list_editions`` loads every snapshot (the whole frozen plan of each edition);
a scrape every few seconds needs only the numbers, so it asks the database to count.
"""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from digest.store.schema import editions


def editions_per_newsletter(engine: Engine) -> dict[str, int]:
    """Editions planned so far, empty ones included: an empty slot still ran as it should."""
    query = select(editions.c.newsletter, func.count()).group_by(editions.c.newsletter)
    with engine.connect() as conn:
        return {newsletter: int(count) for newsletter, count in conn.execute(query)}
