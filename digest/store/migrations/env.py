"""Alembic environment: runs migrations on the engine that digest hands in."""

from __future__ import annotations

from alembic import context

import digest.store.ledger_schema  # noqa: F401  (registers the ledger tables)
import subscribers.schema  # noqa: F401  (registers the subscriber tables on the metadata)
from digest.store.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
