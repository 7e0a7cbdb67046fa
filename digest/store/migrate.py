"""Schema migrations with Alembic, run from code. I/O.

The store upgrades itself to the newest revision when it is opened, so the embedded default
needs no set-up step; ``digest db upgrade`` does the same explicitly for operators who want
to migrate a shared PostgreSQL database before rolling out new code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from digest.errors import StoreError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
FOREIGN_PREFIX = "procrastinate_"
"""Names of the job queue's own schema (revision 0011 installs it), which no metadata of ours
declares: comparing the schema with ``metadata`` (autogenerate, the schema test) skips them."""


def is_ours(name: str | None, type_: str, parent_names: Mapping[Any, str | None]) -> bool:
    """Alembic's ``include_name`` hook: False for procrastinate's tables and their indexes."""
    if type_ == "table":
        return not (name or "").startswith(FOREIGN_PREFIX)
    return not (parent_names.get("table_name") or "").startswith(FOREIGN_PREFIX)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    if head is None:
        raise StoreError(f"no migration found under {MIGRATIONS_DIR}; the installation is broken")
    return head


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot open the store {engine.url!r}: {getattr(exc, 'orig', None) or exc}; "
            "check DIGEST_DATABASE_URL and that the database server is running"
        ) from exc


def upgrade(engine: Engine) -> str:
    """Bring the schema to the newest revision; returns it."""
    try:
        command.upgrade(alembic_config(engine), "head")
    except SQLAlchemyError as exc:
        raise StoreError(f"migrating {engine.url!r} failed: {exc}") from exc
    return head_revision()


def ensure_current(engine: Engine) -> None:
    """Upgrade only when the database is behind, so opening a current store stays cheap."""
    if current_revision(engine) != head_revision():
        upgrade(engine)
