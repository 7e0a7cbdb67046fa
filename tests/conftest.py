"""Shared fixtures: real stores on SQLite files and, where configured, PostgreSQL.

The ``engine`` fixture runs every store test twice: on a fresh SQLite file, and on a fresh
PostgreSQL schema when ``DIGEST_TEST_POSTGRES_URL`` names a database (CI sets it; the
machine runs PostgreSQL on 127.0.0.1:5432). Both are migrated with the real migrations.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from digest.settings import Settings
from digest.store.articles import ArticleStore
from digest.store.engine import create_store_engine
from digest.store.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TEST_DATA = Path(__file__).resolve().parent / "data"
POSTGRES_URL = os.environ.get("DIGEST_TEST_POSTGRES_URL")
BASE_URL = "https://news.example.com"
ACTIVE_MARKUP = re.compile(r"<\s*script|(?:java|vb)script\s*:|<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
"""What no stored field may contain: a script tag, a script URL, a tag with an event handler."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite the golden files of the rendering tests from the current output",
    )


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test with the reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared corpora sit beside the repository in CI")
    return path


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test: its own data folder, no .env file, explicit overrides."""
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "_env_file": None}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_store_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL store tests need DIGEST_TEST_POSTGRES_URL (CI sets it)")
    yield from _postgres_schema_engine(POSTGRES_URL)


def _postgres_schema_engine(url: str) -> Iterator[Engine]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_store_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # the schema rides in the URL, so a test can hand the same database to another process
    separator = "&" if "?" in url else "?"
    engine = create_store_engine(f"{url}{separator}options=-csearch_path%3D{schema}")
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class StepClock:
    """A clock that moves forward one second per reading, so updates are visible."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def url_of(engine: Engine) -> str:
    """The engine's URL with its password, to open the same database elsewhere."""
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def store(engine: Engine) -> ArticleStore:
    return ArticleStore(engine, base_url=BASE_URL, clock=StepClock())
