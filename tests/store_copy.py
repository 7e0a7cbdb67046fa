"""Copying a PostgreSQL store built once into a fresh schema, for each test or benchmark run.

Building a store of 20,000 subscribers through the CLI (ingest, import, plan and enrol)
takes some fifteen seconds on this 2-core machine; copying it takes about one. The target
is a schema migrated by the project's own migrations, so procrastinate's tables, functions
and triggers, and every sequence, are that schema's own (``CREATE TABLE ... (LIKE ...)``
would copy neither triggers nor foreign keys, and would leave the defaults drawing on the
template's sequences). Into it go the rows of every table of digest's metadata, by
``INSERT ... SELECT`` in foreign-key order; each serial sequence is moved past the copied
ids, and each table is analysed: without statistics (autovacuum analyses a table a minute
or so after it changed), PostgreSQL planned the send path's ``still_receiving`` query
over 20,000 fresh subscribers so badly that one batch's query ran for over a minute.
procrastinate's tables are not copied: the jobs are deferred afresh, since their batch
size is the provider's.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, Engine, Integer, Table, text

# imported for their side effect, as the migrations' env.py does: each registers its tables
import digest.store.editorial_schema
import digest.store.ledger_schema
import digest.store.queue_schema
import digest.store.schedule_schema  # noqa: F401
import subscribers.schema  # noqa: F401
from digest.store.migrate import FOREIGN_PREFIX
from digest.store.schema import metadata

NAME = re.compile(r"[a-z_][a-z0-9_]*")
"""Schema names this module writes into SQL: plain identifiers only."""


def copy_store(target: Engine, template: str) -> dict[str, int]:
    """Every row of schema ``template`` into ``target``'s own (migrated, empty) schema.

    Returns the rows copied per table. Raises when the template holds a table of ours that
    the metadata does not declare, which would otherwise be left behind unnoticed.
    """
    if not NAME.fullmatch(template):
        raise ValueError(f"schema name {template!r}: plain lower-case identifiers only")
    copied: dict[str, int] = {}
    with target.begin() as conn:
        missing = _tables_in(conn, template) - set(metadata.tables)
        if missing:
            raise AssertionError(f"tables not in digest's metadata, not copied: {missing}")
        for table in metadata.sorted_tables:
            columns = ", ".join(f'"{column.name}"' for column in table.columns)
            copied[table.name] = int(
                conn.execute(
                    text(
                        f'INSERT INTO "{table.name}" ({columns}) '
                        f'SELECT {columns} FROM "{template}"."{table.name}"'
                    )
                ).rowcount
            )
            _move_sequence(conn, table)
            conn.execute(text(f'ANALYZE "{table.name}"'))
    return copied


def _tables_in(conn: Connection, schema: str) -> set[str]:
    query = text("SELECT tablename FROM pg_tables WHERE schemaname = :schema")
    names = {str(name) for name in conn.execute(query, {"schema": schema}).scalars()}
    return {
        name for name in names if name != "alembic_version" and not name.startswith(FOREIGN_PREFIX)
    }


def _move_sequence(conn: Connection, table: Table) -> None:
    """A serial key's sequence past the copied ids, so new rows get new ones."""
    keys = list(table.primary_key.columns)
    if len(keys) != 1 or not isinstance(keys[0].type, Integer):
        return
    key = keys[0].name
    sequence = conn.execute(
        text("SELECT pg_get_serial_sequence(:table, :column)"),
        {"table": table.name, "column": key},
    ).scalar()
    if sequence is None:
        return
    conn.execute(
        text(f'SELECT setval(:sequence, max("{key}")) FROM "{table.name}" HAVING count(*) > 0'),
        {"sequence": sequence},
    )
