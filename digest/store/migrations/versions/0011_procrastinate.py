"""procrastinate's own schema (the job queue's tables, types and functions), PostgreSQL only.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28

The send batches run as procrastinate jobs, deferred in the same transaction that writes
their ledger rows, so procrastinate's schema must be in the store before any enrolment:
it is installed here, with the project's own migrations, by ``digest db upgrade`` (and by
every process that opens a store that is behind). The SQL is the installed procrastinate's
``procrastinate/sql/schema.sql``, read through ``importlib.resources``, so the schema is
always the one of the version pinned in ``pyproject.toml`` (``procrastinate>=3.10,<4``).
SQLite has no job queue (``DIGEST_QUEUE=procrastinate`` needs PostgreSQL): nothing to do.

The schema's names are unqualified, so they land in the first schema of the connection's
``search_path``, as every digest table does (the tests give each test its own schema that
way).

A later procrastinate version: its wheel ships ``procrastinate/sql/migrations/*.sql``, one
file per schema change, named by the version that introduced it (``03.04.00_01_...sql``).
Raising the pin past a version with new files means adding one revision here per release,
each applying that release's files in name order (``apply_sql("migrations/<file>")``) on
PostgreSQL only, with the files' ``pre``/``post`` split respected (``pre`` files before the
new code runs, ``post`` files after every worker runs it). This revision's schema.sql stays
as it is: a store created by it is at 3.10's schema, and the later revisions carry it on.
"""

from __future__ import annotations

from importlib.resources import files

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLES = (
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
)
TYPES = (
    "procrastinate_job_to_defer_v1",
    "procrastinate_job_event_type",
    "procrastinate_job_status",
)
DROP_FUNCTIONS = """
DO $$
DECLARE
    found record;
BEGIN
    FOR found IN
        SELECT p.oid::regprocedure AS signature
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
    LOOP
        EXECUTE 'DROP FUNCTION ' || found.signature || ' CASCADE';
    END LOOP;
END;
$$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        run_script(files("procrastinate.sql").joinpath("schema.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        run_script(
            f"DROP TABLE IF EXISTS {', '.join(TABLES)} CASCADE;\n"
            + DROP_FUNCTIONS
            + f"DROP TYPE IF EXISTS {', '.join(TYPES)} CASCADE;\n"
        )


def run_script(script: str) -> None:
    """Run a multi-statement SQL script on the migration's own connection and transaction.

    Straight through psycopg's cursor, without parameters: SQLAlchemy's ``text()`` would
    read ``:name`` as bind parameters and the driver would read the functions' ``%`` (in
    their error messages) as placeholders.
    """
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute(script.encode())
