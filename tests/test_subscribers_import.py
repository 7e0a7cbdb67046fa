"""Subscriber import, export and the `digest subscribers` commands.

Parsing is tested on text; the store side on SQLite and PostgreSQL (the ``engine`` fixture);
the commands as a user runs them, in a real process on a real SQLite file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import StepClock, make_settings
from sqlalchemy import Engine, update
from test_cli import as_json, digest

from digest.cli import cli
from digest.demo import DEMO_NEWSLETTERS
from digest.errors import SourceError
from digest.store.engine import create_store_engine
from digest.store.migrate import upgrade
from subscribers.imports import BATCH_SIZE, ImportOutcome, ImportRow, Rejection, import_csv, parse
from subscribers.model import Source, Status, Subscription, SubscriptionStatus
from subscribers.schema import subscribers
from subscribers.store import SubscriberStore

SECTIONS = ("Political history", "Science", "Technology", "Economy", "Culture", "Travel")


def parsed(text: str, name: str = "readers.csv") -> list[ImportRow | Rejection]:
    _header, rows = parse(text.splitlines(keepends=True), SECTIONS, name)
    return list(rows)


def write(folder: Path, text: str, encoding: str = "utf-8", name: str = "readers.csv") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def people(engine: Engine) -> SubscriberStore:
    return SubscriberStore(engine, clock=StepClock())


def imported(
    people: SubscriberStore, folder: Path, text: str, batch_size: int = BATCH_SIZE
) -> ImportOutcome:
    return import_csv(people, write(folder, text), "daily", SECTIONS, batch_size)


def joined(people: SubscriberStore, subscriber_id: int) -> Subscription:
    mine = people.subscription(subscriber_id, "daily")
    assert mine is not None
    return mine


def counts(outcome: ImportOutcome) -> tuple[int, int, int, list[tuple[int, str]]]:
    rejected = [(r.line, r.reason) for r in sorted(outcome.rejected, key=lambda r: r.line)]
    return outcome.added, outcome.updated, outcome.unchanged, rejected


# -- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "email,name,sections,timezone,send_hour",
        " EMAIL , Name ,SECTIONS,Time Zone,Send Hour",
        "Email;name;Sections;TimeZone;send hour",
        "send_hour,timezone,sections,name,email address",
    ],
)
def test_header_names_in_any_case_order_and_spacing(header: str) -> None:
    delimiter = ";" if ";" in header else ","
    cells = {"email": "ana@example.org", "name": "Ana", "sections": "science"}
    cells |= {"timezone": "Europe/Paris", "sendhour": "7", "emailaddress": "ana@example.org"}
    keys = ["".join(c.casefold().split()).replace("_", "") for c in header.split(delimiter)]
    line = delimiter.join(cells[key] for key in keys)
    (row,) = parsed(f"{header}\n{line}\n")
    assert row == ImportRow(2, "ana@example.org", "Ana", ("Science",), "Europe/Paris", 7)


def test_semicolon_file_with_bom_and_sections_in_one_cell() -> None:
    text = "\ufeffemail;name;sections\nana@example.org;Ana Lima;Culture, science|TRAVEL\n"
    (row,) = parsed(text)
    assert isinstance(row, ImportRow)
    assert row.sections == ("Science", "Culture", "Travel")  # the newsletter's order
    comma = parsed('email,sections\nbo@example.org,"science;Culture"\ncy@example.org,Economy\n')
    assert [r.sections for r in comma if isinstance(r, ImportRow)] == [
        ("Science", "Culture"),
        ("Economy",),
    ]


def test_every_bad_row_is_rejected_with_its_line_and_every_good_row_kept() -> None:
    text = (
        "email,name,sections,timezone,send_hour\n"  # 1
        "ana@example.org,Ana,,,\n"  # 2
        "not-an-address,Bo,,,\n"  # 3
        '"cy@example.org","Cy\nJones",Science,,\n'  # 4-5: a quoted line break
        "\n"  # 6: blank, skipped
        "dee@example.org,Dee,Sport,,\n"  # 7
        "eve@example.org,Eve,,Mars/Olympus,\n"  # 8
        "fay@example.org,Fay,,,24\n"  # 9
        "gus@example.org,Gus,,,seven\n"  # 10
        "ANA@EXAMPLE.ORG,Ana again,,,\n"  # 11
        ",No address,,,\n"  # 12
        "hal@example.org,Hal,,,,extra\n"  # 13
        "ivy@example.org,Ivy,,america/new_york,0\n"  # 14
    )
    rows = parsed(text)
    good = [r for r in rows if isinstance(r, ImportRow)]
    assert [(r.line, r.email, r.name) for r in good] == [
        (2, "ana@example.org", "Ana"),
        (4, "cy@example.org", "Cy Jones"),
        (14, "ivy@example.org", "Ivy"),
    ]
    assert good[-1].timezone == "America/New_York"
    assert good[-1].send_hour == 0
    rejected = {r.line: (r.email, r.reason) for r in rows if isinstance(r, Rejection)}
    assert sorted(rejected) == [3, 7, 8, 9, 10, 11, 12, 13]
    assert rejected[3][1].startswith("invalid address: ")
    assert rejected[7] == ("dee@example.org", rejected[7][1])
    assert rejected[7][1].startswith("unknown section 'Sport'; the newsletter's sections are: ")
    assert rejected[8][1].startswith("unknown time zone 'Mars/Olympus'")
    assert "from 0 to 23" in rejected[9][1]
    assert "from 0 to 23" in rejected[10][1]
    assert rejected[11] == ("ANA@EXAMPLE.ORG", "duplicate of line 2")
    assert rejected[12][1] == "no email address"
    assert rejected[13][1].startswith("6 cells where the header has 5")


def test_file_level_errors_name_the_file(tmp_path: Path) -> None:
    people = SubscriberStore(create_store_engine(f"sqlite:///{tmp_path / 's.sqlite3'}"))
    upgrade(people.engine)
    with pytest.raises(SourceError, match=r"line 1: no email column \(found 'mail', 'name'\)"):
        import_csv(people, write(tmp_path, "mail,name\na@b.org,A\n"), "daily", SECTIONS)
    latin = write(tmp_path, "email,name\nana@example.org,Ana\nzoe@example.org,Zoë\n", "latin-1")
    with pytest.raises(SourceError, match=r"readers\.csv: line 3 is not UTF-8 text"):
        import_csv(people, latin, "daily", SECTIONS)
    with pytest.raises(SourceError, match="cannot read it"):
        import_csv(people, tmp_path / "absent.csv", "daily", SECTIONS)
    assert people.list_subscribers() == []  # nothing of the latin-1 file was written
    people.engine.dispose()


# -- the store --------------------------------------------------------------------------------

LIST = (
    "Email,Name,Sections,Time zone,Send hour\n"
    "ana@example.org,Ana Lima,Science|Culture,Europe/Paris,7\n"
    "bo@example.org,Bo,,,\n"
    "bad@,Bad,,,\n"
    "cy@example.org,Cy,,,\n"
)


def test_import_adds_active_subscribers_and_reimport_changes_nothing(
    people: SubscriberStore, tmp_path: Path
) -> None:
    first = imported(people, tmp_path, LIST)
    assert counts(first)[:3] == (3, 0, 0)
    assert [(r.line, r.email) for r in first.rejected] == [(4, "bad@")]
    ana = people.find("ana@example.org")
    assert ana is not None
    assert (ana.status, ana.consent_source, ana.timezone, ana.send_hour) == (
        Status.ACTIVE,
        Source.IMPORT,
        "Europe/Paris",
        7,
    )
    assert ana.confirmed_at is not None
    mine = joined(people, ana.id)
    assert (mine.status, mine.sections) == (SubscriptionStatus.ACTIVE, ("Science", "Culture"))
    (event,) = people.events(ana.id)
    assert (event.kind, event.source, event.newsletter) == ("imported", Source.IMPORT, "daily")
    members = [m.email for page in people.audience("daily") for m in page]
    assert members == ["ana@example.org", "bo@example.org", "cy@example.org"]
    again = imported(people, tmp_path, LIST)
    assert counts(again)[:3] == (0, 0, 3)
    assert len(people.events(ana.id)) == 1


def test_changes_are_counted_as_updates_with_an_event(
    people: SubscriberStore, tmp_path: Path
) -> None:
    imported(people, tmp_path, LIST)
    pending = people.sign_up("dee@example.org", "daily", name="Dee").subscriber
    other = people.sign_up("eve@example.org", "weekly-science").subscriber
    assert pending is not None
    assert other is not None
    assert people.confirm(other.id, "weekly-science") is not None
    changed = (
        "email,name,sections,timezone,send_hour\n"
        "ana@example.org,Ana Lima,Science|Culture,Europe/Paris,8\n"  # the hour
        "BO@example.org,,Travel,,\n"  # sections (letter case of the address does not count)
        "cy@example.org,,,,\n"  # nothing asserted: unchanged
        "dee@example.org,,,,\n"  # pending: activated by the import
        "eve@example.org,Eve,,,\n"  # active elsewhere: joins daily, gets a name
    )
    outcome = imported(people, tmp_path, changed)
    assert counts(outcome) == (0, 4, 1, [])
    ana = people.find("ana@example.org")
    assert ana is not None
    assert (ana.name, ana.send_hour) == ("Ana Lima", 8)
    assert people.events(ana.id)[-1].detail == {"changed": ["send_hour"]}
    bo = people.find("bo@example.org")
    assert bo is not None
    assert joined(people, bo.id).sections == ("Travel",)
    dee = people.get(pending.id)
    assert dee is not None
    assert (dee.status, dee.consent_source) == (Status.ACTIVE, Source.IMPORT)
    assert joined(people, dee.id).status is SubscriptionStatus.ACTIVE
    eve = people.get(other.id)
    assert eve is not None
    assert eve.name == "Eve"
    assert [s.newsletter for s in people.subscriptions(eve.id)] == ["daily", "weekly-science"]
    assert people.events(eve.id)[-1].detail == {"changed": ["name", "subscription"]}
    assert counts(imported(people, tmp_path, changed)) == (0, 0, 5, [])


def test_suppressed_or_unsubscribed_addresses_are_never_reactivated(
    people: SubscriberStore, tmp_path: Path, engine: Engine
) -> None:
    imported(people, tmp_path, LIST)
    ana, bo, cy = (people.find(f"{n}@example.org") for n in ("ana", "bo", "cy"))
    assert ana is not None
    assert bo is not None
    assert cy is not None
    people.unsubscribe(ana.id, None)
    people.unsubscribe(bo.id, "daily")
    people.suppress("cy@example.org", "complaint", Source.PROVIDER)
    people.remove("gone@example.org")
    imported(people, tmp_path, "email\ndee@example.org\neve@example.org\n")
    with engine.begin() as conn:  # a status with no suppression row (an old database, say)
        conn.execute(
            update(subscribers)
            .where(subscribers.c.email.in_(["dee@example.org", "eve@example.org"]))
            .values(status=Status.BOUNCED.value)
        )
        conn.execute(
            update(subscribers)
            .where(subscribers.c.email == "eve@example.org")
            .values(status=Status.COMPLAINED.value)
        )
    text = "email,name\n" + "".join(
        f"{n}@example.org,New name\n" for n in ("ana", "bo", "Cy", "gone", "dee", "eve")
    )
    outcome = imported(people, tmp_path, text)
    assert counts(outcome) == (
        0,
        0,
        0,
        [
            (2, "unsubscribed"),
            (3, "unsubscribed from daily"),
            (4, "suppressed"),
            (5, "suppressed"),
            (6, "bounced"),
            (7, "complained"),
        ],
    )
    assert people.find("gone@example.org") is None
    assert [p.name for p in people.list_subscribers()] == ["Ana Lima", "Bo", "Cy", None, None]
    assert [m.email for page in people.audience("daily") for m in page] == []


def test_batches_see_what_earlier_batches_wrote(people: SubscriberStore, tmp_path: Path) -> None:
    text = "email\n" + "".join(f"r{i}@example.org\n" for i in range(7)) + "R3@example.org\n"
    outcome = imported(people, tmp_path, text, batch_size=2)
    assert counts(outcome) == (7, 0, 0, [(9, "duplicate of line 5")])
    assert counts(imported(people, tmp_path, text, batch_size=3))[:3] == (0, 0, 7)
    pages = [len(page) for page in people.listings(page_size=3)]
    assert pages == [3, 3, 1]


# -- the commands -----------------------------------------------------------------------------


def test_import_export_list_and_remove_commands(tmp_path: Path) -> None:
    env_file = tmp_path / "demo.env"
    env_file.write_text(f"DIGEST_NEWSLETTERS_FILE={DEMO_NEWSLETTERS}\n")
    sub = ["--env-file", str(env_file), "subscribers"]
    readers = write(tmp_path, LIST.replace("Ana Lima", "Zoë Ólafsdóttir"), "utf-8-sig")
    report = as_json(digest(tmp_path, *sub, "import", "--json", str(readers)))
    assert report == {
        "added": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": [
            {
                "line": 4,
                "email": "bad@",
                "reason": "invalid address: There must be something after the @-sign.",
            }
        ],
    }
    people = SubscriberStore(create_store_engine(make_settings(tmp_path).store_url))
    bo = people.find("bo@example.org")
    assert bo is not None
    people.unsubscribe(bo.id, None)
    exported = digest(tmp_path, *sub, "export")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.splitlines()[1].startswith(
        "ana@example.org,Zoë Ólafsdóttir,Science|Culture,Europe/Paris,7,active,daily,active,"
    )
    again = write(tmp_path, exported.stdout, name="export.csv")
    report = as_json(digest(tmp_path, *sub, "import", "--json", str(again)))
    assert (report["added"], report["updated"], report["unchanged"]) == (0, 0, 2)
    assert report["rejected"] == [{"line": 3, "email": "bo@example.org", "reason": "unsubscribed"}]
    left = as_json(digest(tmp_path, *sub, "list", "--status", "unsubscribed", "--json"))
    assert left == [
        {
            "id": bo.id,
            "email": "bo@example.org",
            "name": "Bo",
            "status": "unsubscribed",
            "newsletters": {"daily": "unsubscribed"},
        }
    ]
    removed = digest(tmp_path, *sub, "remove", "ana@example.org")
    assert "erased subscriber #1" in removed.stdout
    refused = digest(tmp_path, *sub, "add", "ANA@example.org", "--name", "Ana")
    assert refused.returncode == 1
    assert "ANA@example.org is on the suppression list" in refused.stderr
    report = as_json(digest(tmp_path, *sub, "import", "--json", str(readers)))
    assert report["rejected"][0] == {"line": 2, "email": "ana@example.org", "reason": "suppressed"}
    everyone = json.loads(digest(tmp_path, *sub, "export", "--json").stdout)
    assert [p["email"] for p in everyone] == ["bo@example.org", "cy@example.org"]
    assert everyone[1]["subscriptions"][0]["newsletter"] == "daily"
    people.engine.dispose()


def test_command_errors(tmp_path: Path) -> None:
    env_file = tmp_path / "example.env"
    example = Path(__file__).resolve().parents[1] / "newsletters.example.toml"
    env_file.write_text(f"DIGEST_NEWSLETTERS_FILE={example}\n")
    sub = ["--env-file", str(env_file), "subscribers"]
    several = digest(tmp_path, *sub, "import", str(write(tmp_path, LIST)))
    assert several.returncode == 2
    assert "newsletters are declared (daily, weekly-science); choose one with --newsletter" in (
        several.stderr
    )
    absent = digest(tmp_path, *sub, "import", "--newsletter", "daily", "absent.csv")
    assert absent.returncode == 1
    assert "absent.csv: cannot read it" in absent.stderr
    zone = digest(
        tmp_path, *sub, "add", "a@example.org", "--newsletter", "daily", "--timezone", "Mars"
    )
    assert zone.returncode == 2
    assert "Invalid value for --timezone: unknown time zone 'Mars'" in zone.stderr


@pytest.mark.parametrize("command", ["import", "export", "add", "remove", "list", None])
def test_every_subscribers_command_has_help_with_an_example(command: str | None) -> None:
    args = ["subscribers", *([command] if command else []), "--help"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0
    assert "Example:" in result.output
