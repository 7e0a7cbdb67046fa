"""Alembic environment: runs migrations on the engine that digest hands in."""

from __future__ import annotations

from alembic import context

# imported for their side effect: each registers its tables on the one metadata
import digest.store.editorial_schema
import digest.store.ledger_schema
import digest.store.queue_schema
import digest.store.schedule_schema  # noqa: F401
import subscribers.schema  # noqa: F401  (registers the subscriber tables on the metadata)
from digest.store.migrate import is_ours
from digest.store.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_name=is_ours,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
