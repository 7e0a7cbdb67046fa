"""The ops commands as an operator types them, on the demo's store (a real process each).

``digest demo`` plans today's demo edition through the scheduler's path and sends what
is due; five of its thirty readers chose a local hour that has not come, so their rows
are pending: the material for pause, resume and ``send --now``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from digest.demo import DEMO_NEWSLETTERS


def digest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "DIGEST_DATA_DIR": str(root / "data"),
        "DIGEST_NEWSLETTERS_FILE": str(DEMO_NEWSLETTERS),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "-m", "digest", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ops")
    done = digest(folder, "demo")
    assert done.returncode == 0, done.stderr
    return folder


def test_schedule_and_editions_show_the_demo_edition(root: Path) -> None:
    (entry,) = as_json(digest(root, "schedule", "--json"))
    assert entry["name"] == "daily"
    assert not entry["paused"]
    assert len(entry["next_slots"]) == 3
    assert entry["last_run"]["outcome"] == "planned"
    (edition,) = as_json(digest(root, "editions", "--json"))
    assert edition["id"] == entry["last_run"]["edition_id"]
    counts = edition["counts"]
    assert counts["total"] == 30
    assert counts["sent"] + counts["pending"] + counts["skipped"] == 30
    shown = as_json(digest(root, "edition", "show", edition["id"], "--json"))
    assert shown["counts"] == counts
    assert shown["failures"] == []
    assert sum(section["articles"] for section in shown["sections"]) > 0
    text = digest(root, "editions")
    assert f"{edition['id']} daily #1" in text.stdout


def test_pause_send_now_resume(root: Path) -> None:
    (edition,) = as_json(digest(root, "editions", "--json"))
    pending = edition["counts"]["pending"]
    assert pending > 0  # readers whose local hour has not come yet
    paused = digest(root, "pause", "daily", "--reason", "checking a feed")
    assert paused.returncode == 0
    assert "paused newsletter daily" in paused.stdout
    refused = digest(root, "send", "daily", "--now", "--json")
    assert refused.returncode == 1
    assert "paused" in refused.stderr
    (entry,) = as_json(digest(root, "schedule", "--json"))
    assert entry["paused"]
    assert entry["pause_reason"] == "checking a feed"
    assert digest(root, "resume", "daily").returncode == 0

    assert digest(root, "pause", edition["id"]).returncode == 0
    held = digest(root, "send", "daily", "--now", "--json")
    assert held.returncode == 1
    assert "paused" in held.stderr
    assert as_json(digest(root, "edition", "show", edition["id"], "--json"))["paused"]
    assert digest(root, "resume", edition["id"]).returncode == 0
    sent = as_json(digest(root, "send", "daily", "--now", "--json"))
    assert sent["pending"] == 0
    assert sent["sent"] == edition["counts"]["sent"] + pending
    outbox = list((root / "data" / "outbox").glob("*.eml"))
    assert len(outbox) == sent["sent"]  # one file per reader: nothing went twice


def test_retry_failed_and_unknown_targets(root: Path) -> None:
    (edition,) = as_json(digest(root, "editions", "--json"))
    retried = digest(root, "retry-failed", edition["id"])
    assert retried.returncode == 0
    assert "0 failed deliveries" in retried.stdout
    for args in (["pause", "nosuch"], ["edition", "show", "nosuch"], ["retry-failed", "x"]):
        unknown = digest(root, *args)
        assert unknown.returncode == 1
        assert "no newsletter or edition" in unknown.stderr
        assert "Traceback" not in unknown.stderr


def test_run_once_catches_up_and_sends_what_is_due(root: Path) -> None:
    done = as_json(digest(root, "run", "--once", "--json"))
    assert set(done) == {"planned", "missed", "sent", "failed", "pending", "editions"}
    assert done["failed"] == 0
    (edition,) = as_json(digest(root, "editions", "--json"))
    assert edition["counts"]["sending"] == 0
