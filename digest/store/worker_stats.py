"""Each worker's throughput, per minute, in ``worker_stats``: what ops' views read. I/O.

One upsert per send batch adds the batch and its recipients to the worker's row of the
current minute, so the table grows by one row per worker and minute, however many batches,
and two jobs of one worker finishing together add up rather than overwrite each other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from digest.store.queue_schema import worker_stats

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class WorkerStats:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def count(self, worker: str, batches: int, recipients: int) -> None:
        """Add ``batches`` and ``recipients`` to this worker's current minute."""
        minute = self.clock().replace(second=0, microsecond=0)
        with self.engine.begin() as conn:
            insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
            statement = insert(worker_stats).values(
                worker=worker, minute=minute, batches=batches, recipients=recipients
            )
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[worker_stats.c.worker, worker_stats.c.minute],
                    set_={
                        "batches": worker_stats.c.batches + statement.excluded.batches,
                        "recipients": worker_stats.c.recipients + statement.excluded.recipients,
                    },
                )
            )
