"""The `digest` command as a user runs it: a real process on a real SQLite file."""

from __future__ import annotations

import email
import json
import re
import subprocess
import sys
from datetime import date, datetime, timedelta
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_DATA, shared_path

from digest.demo import DEMO_NEWSLETTERS
from digest.store.migrate import head_revision

COMMANDS = [
    ["ingest"], ["articles"], ["db"], ["db", "upgrade"], ["db", "current"], ["demo"],
    ["newsletters"], ["plan"], ["preview"], ["check"], ["send"], ["serve"], ["run"],
    ["schedule"], ["editions"], ["edition", "show"], ["pause"], ["resume"], ["retry-failed"],
    ["editors"], ["editors", "add"], ["editors", "remove"], ["editors", "list"],
    ["editors", "hash"], ["worker"], ["queue"],
]  # fmt: skip


def digest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"DIGEST_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "digest", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_seed_export_round_trip(tmp_path: Path) -> None:
    seed = shared_path("seed", "000_911321bf76807308.txt")
    report = as_json(digest(tmp_path, "ingest", "--json", str(seed)))
    assert report == {
        "added": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": [],
        "failed_sources": [],
        "warnings": [],
    }
    (article,) = as_json(digest(tmp_path, "articles", "--json"))
    assert set(article) == {
        "id", "url", "section", "title", "standfirst", "author",
        "published_at", "read_minutes", "body", "related",
    }  # fmt: skip
    assert article["section"] == "Political history"
    assert article["title"] == (
        "The role of secret diplomatic agreements and backchannel negotiations "
        "in precipitating alliances and conflicts."
    )
    assert article["standfirst"].startswith("Secret agreements and backchannel talks")
    assert article["author"] == "Robert Harris"
    assert article["published_at"].startswith("2025-07-19")
    assert article["read_minutes"] == 3
    assert "ADVERTISEMENT" not in article["body"]
    assert "Linkedin" not in article["body"]
    assert "Related Articles" not in article["body"]
    assert len(article["related"]) == 12
    for ref in article["related"]:
        assert set(ref) == {"section", "standfirst", "title", "date", "url"}
        assert ref["section"] == "Political history"
        assert date.fromisoformat(ref["date"])
        assert ref["url"] is None  # none of the targets has been ingested
    again = as_json(digest(tmp_path, "ingest", "--json", str(seed)))
    assert (again["added"], again["unchanged"]) == (0, 1)


def test_related_references_show_their_targets_once_known(tmp_path: Path) -> None:
    as_json(digest(tmp_path, "ingest", "--json", str(TEST_DATA / "exports")))
    found = as_json(digest(tmp_path, "articles", "--json", "--section", "science"))
    (tides,) = found
    lanterns = tides["related"][0]
    assert lanterns["title"] == "The lantern makers of river towns"
    assert lanterns["url"] == "https://news.example.com/culture/the-lantern-makers-of-river-towns"


def test_filters_limit_and_since(tmp_path: Path) -> None:
    as_json(digest(tmp_path, "ingest", "--json", str(TEST_DATA / "exports")))
    titles = [a["title"] for a in as_json(digest(tmp_path, "articles", "--json", "--limit", "2"))]
    assert len(titles) == 2
    assert titles[0].startswith("Why the tide tables")
    since = as_json(digest(tmp_path, "articles", "--json", "--since", "2025-10-01"))
    assert [a["section"] for a in since] == ["Science", "Culture"]
    text = digest(tmp_path, "articles", "--section", "Economy")
    assert "Electric cranes, slow cables" in text.stdout


def test_exit_1_when_a_source_cannot_be_read(tmp_path: Path) -> None:
    result = digest(
        tmp_path, "ingest", "--json", str(tmp_path / "missing.xml"), str(TEST_DATA / "exports")
    )
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["added"] == 3
    assert report["failed_sources"] == [
        {
            "source": str(tmp_path / "missing.xml"),
            "reason": "no such file or folder; check the path",
        }
    ]


@pytest.mark.parametrize(
    "args", [["ingest"], ["articles", "--limit", "0"], ["articles", "--since", "yesterday"]]
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = digest(tmp_path, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(tmp_path: Path, command: list[str]) -> None:
    result = digest(tmp_path, *command, "--help")
    assert result.returncode == 0
    assert "Example:" in result.stdout


def test_db_commands(tmp_path: Path) -> None:
    current = digest(tmp_path, "db", "current")
    assert "revision none" in current.stdout
    upgraded = digest(tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0
    assert f"schema revision {head_revision()}" in upgraded.stdout
    assert (tmp_path / "data" / "digest.sqlite3").exists()


def test_demo_ingests_the_bundled_corpus(tmp_path: Path) -> None:
    result = digest(tmp_path, "demo")
    assert result.returncode == 0, result.stderr
    assert "failed sources 0" in result.stdout
    stored = as_json(digest(tmp_path, "articles", "--json"))
    assert len(stored) >= 40
    assert len({a["section"] for a in stored}) >= 5
    today = datetime.now().astimezone().date()
    days = {(today - date.fromisoformat(a["published_at"][:10])).days for a in stored}
    assert min(days) >= -1
    assert max(days) <= 28
    refs = [r for a in stored for r in a["related"]]
    assert refs
    assert all(r["url"] for r in refs), "every demo reference names a demo article"
    assert sum(1 for a in stored if a["author"] is None) >= 1
    again = digest(tmp_path, "demo")
    assert "added 0, updated 0" in again.stdout
    assert "The Meridian Daily #1" in again.stdout
    assert "lint: 0 error(s)" in again.stdout
    opened = re.search(r"Open (\S+digest\.html) in a browser", again.stdout)
    assert opened is not None
    assert Path(opened.group(1)).read_text().startswith("<!doctype html>")
    env_file = tmp_path / "demo.env"
    env_file.write_text(f"DIGEST_NEWSLETTERS_FILE={DEMO_NEWSLETTERS}\n")
    first = as_json(digest(tmp_path, "--env-file", str(env_file), "plan", "daily", "--json"))
    assert first["issue_number"] == 1  # the demo's edition: planned once, returned again
    assert not first["empty"]
    following = datetime.fromisoformat(first["slot"]) + timedelta(days=1)
    args = ["--env-file", str(env_file), "plan", "daily", "--at", following.isoformat(), "--json"]
    second = as_json(digest(tmp_path, *args))
    assert second["edition_id"] != first["edition_id"]
    urls = {a["url"] for s in first["sections"] for a in s["articles"]}
    assert urls.isdisjoint(a["url"] for s in second["sections"] for a in s["articles"])


def test_env_file_option_supplies_settings(tmp_path: Path) -> None:
    env_file = tmp_path / "meridian.env"
    env_file.write_text("DIGEST_BASE_URL=https://meridian.example/\n")
    as_json(digest(tmp_path, "--env-file", str(env_file), "ingest", "--json", str(TEST_DATA)))
    urls = [
        a["url"] for a in as_json(digest(tmp_path, "articles", "--json", "--section", "Culture"))
    ]
    assert urls == ["https://meridian.example/culture/the-lantern-makers-of-river-towns"]
    missing = digest(tmp_path, "--env-file", str(tmp_path / "absent.env"), "articles")
    assert missing.returncode == 2
    assert "absent.env" in missing.stderr


def test_plan_prints_the_documented_json(tmp_path: Path) -> None:
    env_file = tmp_path / "demo.env"
    env_file.write_text(f"DIGEST_NEWSLETTERS_FILE={DEMO_NEWSLETTERS}\n")
    as_json(digest(tmp_path, "--env-file", str(env_file), "ingest", "--json", str(TEST_DATA)))
    args = ["--env-file", str(env_file), "plan", "daily", "--at", "2025-10-03T09:00", "--json"]
    plan = as_json(digest(tmp_path, *args))
    assert set(plan) == {
        "edition_id", "newsletter", "issue_number", "slot", "sections", "excluded", "empty",
    }  # fmt: skip
    assert plan["newsletter"] == "daily"
    assert plan["issue_number"] == 1
    assert plan["slot"] == "2025-10-03T05:00:00+00:00"  # 07:00 in Paris, summer time
    assert plan["empty"] is False
    names = [s["name"] for s in plan["sections"]]
    assert names == ["Science", "Economy", "Culture"]  # the newsletter's order
    article = plan["sections"][0]["articles"][0]
    assert set(article) == {
        "url", "title", "summary", "author", "published_at", "read_minutes", "archive",
        "related", "reason",
    }  # fmt: skip
    assert article["title"] == "Why the tide tables of small harbours still need a human eye"
    assert article["archive"] is False
    assert all(set(r) == {"title", "url"} for r in article["related"])
    assert all(set(e) == {"url", "title", "reason"} for e in plan["excluded"])
    again = as_json(digest(tmp_path, *args))
    assert again["edition_id"] == plan["edition_id"]
    listed = as_json(digest(tmp_path, "--env-file", str(env_file), "newsletters", "--json"))
    assert listed[0]["last_edition"]["issue_number"] == 1


def test_plan_of_an_unknown_newsletter_names_the_declared_ones(tmp_path: Path) -> None:
    env_file = tmp_path / "demo.env"
    env_file.write_text(f"DIGEST_NEWSLETTERS_FILE={DEMO_NEWSLETTERS}\n")
    result = digest(tmp_path, "--env-file", str(env_file), "plan", "weekly")
    assert result.returncode == 2
    assert "no newsletter named 'weekly'" in result.stderr
    assert "declared: daily" in result.stderr
    missing = digest(tmp_path, "plan", "daily")
    assert missing.returncode == 2
    assert "no newsletters file at newsletters.toml" in missing.stderr


def test_preview_writes_the_three_files_and_reports_size_and_lint(tmp_path: Path) -> None:
    env_file = tmp_path / "demo.env"
    env_file.write_text(f"DIGEST_NEWSLETTERS_FILE={DEMO_NEWSLETTERS}\n")
    base = ["--env-file", str(env_file)]
    as_json(digest(tmp_path, *base, "ingest", "--json", str(TEST_DATA)))
    as_json(digest(tmp_path, *base, "plan", "daily", "--at", "2025-10-03T09:00", "--json"))
    added = digest(tmp_path, *base, "subscribers", "add", "Ana@Example.org", "--name", "Ana")
    assert added.returncode == 0, added.stderr
    out = tmp_path / "out"
    args = ["preview", "daily", "--subscriber", "Ana@Example.org", "--out", str(out), "--json"]
    result = as_json(digest(tmp_path, *base, *args))
    assert set(result) == {"html_bytes", "text_bytes", "trimmed", "lint", "files"}
    assert set(result["files"]) == {"html", "text", "eml"}
    html = Path(result["files"]["html"]).read_text()
    assert len(html.encode()) == result["html_bytes"] < 95_000
    assert "Why the tide tables of small harbours still need a human eye" in html
    assert result["trimmed"] == []
    assert set(result["lint"]) >= {"errors", "warnings"}
    assert result["lint"]["errors"] == []
    message = email.message_from_bytes(Path(result["files"]["eml"]).read_bytes(), policy=default)
    assert message["To"] == "Ana <Ana@example.org>"
    assert "Hello Ana," in html
    assert "/unsubscribe/" in message["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = Path(result["files"]["text"]).read_text()
    assert text.startswith("The Meridian Daily, issue 1")
    human = digest(tmp_path, *base, "preview", "daily", "--out", str(out))
    assert "HTML " in human.stdout
    assert "lint: 0 error(s)" in human.stdout or "lint: skipped" in human.stdout


def test_preview_of_a_missing_edition_says_how_to_find_one(tmp_path: Path) -> None:
    env_file = tmp_path / "demo.env"
    env_file.write_text(f"DIGEST_NEWSLETTERS_FILE={DEMO_NEWSLETTERS}\n")
    result = digest(tmp_path, "--env-file", str(env_file), "preview", "daily", "--edition", "nope")
    assert result.returncode == 1
    assert "no edition nope of daily" in result.stderr


def test_check_reports_each_part_and_stops_at_a_broken_template(tmp_path: Path) -> None:
    env_file = tmp_path / "demo.env"
    env_file.write_text(f"DIGEST_NEWSLETTERS_FILE={DEMO_NEWSLETTERS}\n")
    good = digest(tmp_path, "--env-file", str(env_file), "check")
    assert good.returncode == 0, good.stderr
    assert "newsletters: " in good.stdout
    assert "templates: " in good.stdout
    broken = tmp_path / "templates" / "email"
    broken.mkdir(parents=True)
    (broken / "digest.txt").write_text("{% for x in %}\n")
    overrides = tmp_path / "templates"
    env_file.write_text(
        f"DIGEST_NEWSLETTERS_FILE={DEMO_NEWSLETTERS}\nDIGEST_TEMPLATES_DIR={overrides}\n"
    )
    bad = digest(tmp_path, "--env-file", str(env_file), "check")
    assert bad.returncode == 2
    assert f"{broken / 'digest.txt'}, line 1: template error" in bad.stderr


def test_send_through_the_outbox_and_resume(tmp_path: Path) -> None:
    env_file = tmp_path / "demo.env"
    env_file.write_text(f"DIGEST_NEWSLETTERS_FILE={DEMO_NEWSLETTERS}\n")
    base = ["--env-file", str(env_file)]
    as_json(digest(tmp_path, *base, "ingest", "--json", str(TEST_DATA)))
    plan = as_json(digest(tmp_path, *base, "plan", "daily", "--at", "2025-10-03T09:00", "--json"))
    for n in range(3):
        added = digest(tmp_path, *base, "subscribers", "add", f"reader{n}@example.org")
        assert added.returncode == 0, added.stderr
    refused = digest(
        tmp_path, *base, "send", "--edition", plan["edition_id"], "--provider", "postmark"
    )
    assert refused.returncode == 1
    assert "DIGEST_POSTMARK_SERVER_TOKEN" in refused.stderr
    sent = as_json(digest(tmp_path, *base, "send", "--edition", plan["edition_id"], "--json"))
    assert set(sent) == {
        "edition_id",
        "sent",
        "failed",
        "skipped",
        "pending",
        "uncertain",
        "seconds",
    }
    assert (sent["sent"], sent["failed"], sent["pending"]) == (3, 0, 0)
    outbox = list((tmp_path / "data" / "outbox").glob("*.eml"))
    assert len(outbox) == 3
    again = as_json(digest(tmp_path, *base, "send", "--edition", plan["edition_id"], "--json"))
    assert (again["sent"], again["pending"]) == (3, 0)
    assert len(list((tmp_path / "data" / "outbox").glob("*.eml"))) == 3
    usage = digest(tmp_path, *base, "send")
    assert usage.returncode == 2
