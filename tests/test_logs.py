"""Structured logs: one JSON object a line with the ledger's ids, addresses only as hashes,
and the format chosen by DIGEST_LOG_FORMAT in a real ``digest`` process."""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import TEST_DATA

from digest.observe.logs import JsonFormatter, address_hash, alert

FEED = TEST_DATA / "feeds" / "rss2.xml"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own writing JSON lines into a buffer (the root is left alone)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("digest.test_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_carries_the_ids_and_never_the_address(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured
    ids = {"edition_id": "e1", "delivery_id": 42, "batch_key": "k1", "provider": "postmark"}
    logger.warning(
        "bounce from %s",
        "Ana@Example.org",
        extra={**ids, "address_hash": address_hash("ana@example.org"), "email": "ana@x.org"},
    )
    (line,) = lines(out)
    assert line["time"].endswith("Z")
    assert (line["level"], line["logger"]) == ("WARNING", "digest.test_logs")
    assert line["message"] == f"bounce from address:{address_hash('ana@example.org')}"
    assert {key: line[key] for key in ids} == ids
    assert line["address_hash"] == address_hash("ANA@example.org")
    assert "@" not in out.getvalue()  # neither the message's address nor the stray extra


def test_exception_text_is_kept_with_addresses_hashed(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured
    try:
        raise ValueError("cannot send to bo@example.org")
    except ValueError:
        logger.exception("send failed", extra={"edition_id": "e2"})
    (line,) = lines(out)
    assert line["exception"].startswith("Traceback")
    assert (
        f"ValueError: cannot send to address:{address_hash('bo@example.org')}"
        in (line["exception"])
    )
    assert line["edition_id"] == "e2"


def test_an_alert_is_an_error_line_with_its_kind(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured
    alert(logger, "edition_missed", "daily missed its slot", newsletter="daily", edition_id=None)
    (line,) = lines(out)
    assert line["level"] == "ERROR"
    assert (line["alert"], line["newsletter"]) == ("edition_missed", "daily")
    assert "edition_id" not in line
    with pytest.raises(ValueError, match="unknown log field"):
        alert(logger, "edition_missed", "oops", email="x@example.org")


def test_address_hash_is_short_stable_and_case_blind() -> None:
    one = address_hash("Ana@Example.org")
    assert one == address_hash(" ana@example.org ")
    assert re.fullmatch(r"[0-9a-f]{16}", one)
    assert one != address_hash("ana@example.com")


def run_ingest(tmp_path: Path, log_format: str | None) -> str:
    env = {
        "DIGEST_DATA_DIR": str(tmp_path / "data"),
        "DIGEST_LOG_LEVEL": "INFO",
        "PATH": "/usr/bin:/bin",
    }
    if log_format is not None:
        env["DIGEST_LOG_FORMAT"] = log_format
    result = subprocess.run(
        [sys.executable, "-m", "digest", "ingest", "--json", str(FEED)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_the_command_logs_json_off_a_terminal_and_text_when_asked(tmp_path: Path) -> None:
    parsed = [orjson.loads(text) for text in run_ingest(tmp_path, None).splitlines()]
    (line,) = [entry for entry in parsed if entry["logger"] == "digest.ingest"]
    assert line["level"] == "INFO"
    assert line["message"].startswith(f"{FEED}: ")
    as_json = run_ingest(tmp_path, "json").splitlines()
    assert as_json
    assert all(text.startswith('{"time":') for text in as_json)
    assert f"INFO digest.ingest: {FEED}: " in run_ingest(tmp_path, "text").splitlines()[-1]
