"""The progress display: throttled plain lines off a terminal, nothing when disabled, a bar on
a terminal (a real pseudo-terminal); and the two commands that show it, run as a user runs
them (a real process whose stderr is a pipe, not a terminal)."""

from __future__ import annotations

import io
import os
import pty
import re
import select
from pathlib import Path

from conftest import TEST_DATA, StepClock
from sqlalchemy import Engine
from test_cli import as_json, digest

from digest.cli.progress import progress
from digest.demo import DEMO_NEWSLETTERS
from digest.sources.locate import expand
from subscribers.imports import import_csv
from subscribers.store import SubscriberStore


class Ticks:
    """A clock that moves one second per reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_plain_lines_come_at_most_every_interval_and_once_at_the_end() -> None:
    out = io.StringIO()
    with progress("rows imported", 20, True, stream=out, interval=5.0, clock=Ticks()) as shown:
        for done in range(1, 13):  # readings at 2 s .. 13 s after the start at 1 s
            shown.update(done)
    lines = out.getvalue().splitlines()
    assert lines == [
        "rows imported: 5/20 (1.0/s, ETA 0:00:15)",
        "rows imported: 10/20 (1.0/s, ETA 0:00:10)",
        "rows imported: 12/20 in 13.0 s (0.9/s)",
    ]


def test_a_total_learnt_on_the_way_replaces_the_estimate() -> None:
    out = io.StringIO()
    with progress("rows imported", None, True, stream=out, interval=1.0, clock=Ticks()) as shown:
        shown.update(4)
        shown.update(8, total=8)
    assert out.getvalue().splitlines() == [
        "rows imported: 4 (4.0/s)",
        "rows imported: 8/8 (4.0/s, ETA 0:00:00)",
        "rows imported: 8/8 in 3.0 s (2.7/s)",
    ]


def test_disabled_prints_nothing() -> None:
    out = io.StringIO()
    with progress("documents ingested", 3, False, stream=out, interval=0.0) as shown:
        for done in range(1, 4):
            shown.update(done)
    assert out.getvalue() == ""


def test_no_final_line_after_a_failure() -> None:
    out = io.StringIO()
    try:
        with progress("rows imported", 3, True, stream=out, interval=60.0) as shown:
            shown.update(1)
            raise RuntimeError("the store went away")
    except RuntimeError:
        pass
    assert out.getvalue() == ""


def read_all(fd: int) -> bytes:
    """What the terminal holds: a pty hands it over in pieces."""
    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        chunks.append(os.read(fd, 65536))
    return b"".join(chunks)


def test_on_a_terminal_a_bar_shows_the_count() -> None:
    leader, follower = pty.openpty()
    try:
        with (
            os.fdopen(follower, "w", closefd=False) as terminal,
            progress("documents ingested", 3, True, stream=terminal) as shown,
        ):
            for done in range(1, 4):
                shown.update(done)
        drawn = read_all(leader).decode(errors="replace")
    finally:
        os.close(follower)
        os.close(leader)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)
    assert "documents ingested" in plain
    assert "3/3" in plain
    assert "/s" in plain


# -- the commands ---------------------------------------------------------------------------

FINAL_INGEST = re.compile(r"^documents ingested: (\d+)/(\d+) in \d+\.\d s \([\d,.]+/s\)$", re.M)
FEEDS = TEST_DATA / "feeds"


def test_ingest_reports_progress_off_a_terminal_and_not_with_json(tmp_path: Path) -> None:
    documents = list(expand(str(FEEDS)))
    plain = digest(tmp_path, "ingest", str(FEEDS))
    assert plain.returncode == 0, plain.stderr
    (final,) = FINAL_INGEST.findall(plain.stderr)
    assert final == (str(len(documents)), str(len(documents)))
    assert plain.stdout.startswith("added ")

    quiet = digest(tmp_path, "ingest", "--json", str(FEEDS))
    assert as_json(quiet)["unchanged"] > 0
    assert "documents ingested" not in quiet.stderr


def test_import_reports_its_rows_off_a_terminal_and_not_with_json(tmp_path: Path) -> None:
    env_file = tmp_path / "digest.env"
    env_file.write_text(f"DIGEST_NEWSLETTERS_FILE={DEMO_NEWSLETTERS}\n")
    readers = tmp_path / "readers.csv"
    readers.write_text(
        "email,name\n"
        + "".join(f"reader{n}@example.org,Reader {n}\n" for n in range(25))
        + "bad,X\n"
    )
    command = ["--env-file", str(env_file), "subscribers", "import", "--newsletter", "daily"]
    plain = digest(tmp_path, *command, str(readers))
    assert plain.returncode == 0, plain.stderr
    assert re.search(r"^rows imported: 26/26 in \d+\.\d s \(", plain.stderr, re.M), plain.stderr
    assert "added 25" in plain.stdout

    quiet = digest(tmp_path, *command, "--json", str(readers))
    assert as_json(quiet)["unchanged"] == 25
    assert "rows imported" not in quiet.stderr


def test_import_reports_each_batch_then_the_true_total(engine: Engine, tmp_path: Path) -> None:
    readers = tmp_path / "readers.csv"
    readers.write_text(
        'email,name\na@example.org,A\nb@example.org,"B\nsecond line"\n'
        "c@example.org,C\nd@example.org,D\ne@example.org,E\n"
    )
    calls: list[tuple[int, int]] = []
    store = SubscriberStore(engine, clock=StepClock())
    outcome = import_csv(
        store, readers, "daily", ("Science",), batch_size=2, progress=lambda *c: calls.append(c)
    )
    assert outcome.added == 5
    # 7 lines less the header promise 6 rows; the quoted line break makes it 5
    assert calls == [(2, 6), (4, 6), (5, 6), (5, 5)]
