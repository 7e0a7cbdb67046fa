"""Opening the database: the one place that turns a URL into a SQLAlchemy engine. I/O.

SQLite is the embedded default: a file under the data folder (created on first use) in WAL
mode, so readers never wait for the writer, with foreign keys on and a busy timeout so two
processes queue rather than fail. PostgreSQL is used as it comes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from digest.errors import ConfigError, StoreError

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


def create_store_engine(url: str, **engine_options: Any) -> Engine:
    """An engine for ``url``; for SQLite, the file's folder is created and WAL switched on.

    Statement parameters are kept out of SQLAlchemy's error messages (``hide_parameters``):
    they hold subscribers' addresses, and those messages end up in logged tracebacks.
    """
    engine_options.setdefault("hide_parameters", True)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"setting DIGEST_DATABASE_URL: {url!r} is not a database URL; "
            "use sqlite:///path/to/file.sqlite3 or postgresql+psycopg://user@host/db"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, parsed.database, **engine_options)
    if backend != "postgresql":
        raise ConfigError(
            f"setting DIGEST_DATABASE_URL: {backend} is not supported; "
            "use SQLite (leave it empty) or postgresql+psycopg://user@host/db"
        )
    return create_engine(url, pool_pre_ping=True, **engine_options)


def _sqlite_engine(url: str, database: str | None, **engine_options: Any) -> Engine:
    if database and database != ":memory:":
        folder = Path(database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the data folder {folder}: {exc.strerror}; "
                "set DIGEST_DATA_DIR to a folder you can write to"
            ) from exc
    engine = create_engine(url, **engine_options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    return engine
