"""The newsletters file: the shipped example parses; each mistake names its file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO

from digest.errors import ConfigError
from digest.newsletters import (
    DEFAULT_SUBJECT,
    Evergreen,
    Newsletter,
    NewsletterConfig,
    SectionConfig,
    load_newsletters,
    parse_newsletters,
)
from digest.toml_lines import map_lines

FILE = Path("newsletters.toml")

# Line numbers matter below: each test replaces one line of this file or appends to it.
VALID = """\
[publication]
name = "The Meridian Review"
sections = ["Political history", "Science", "Technology"]
postal_address = "1 Harbour Street, Portsmouth PO1 2AB, United Kingdom"

[[newsletter]]
name = "daily"
title = "The Meridian Daily"
sender_name = "The Meridian Review"
sender_address = "digest@meridian.example"
timezone = "Europe/Paris"
cadence = "0 7 * * *"

[[newsletter.sections]]
name = "Political history"

[[newsletter.sections]]
name = "Science"
"""

SECOND = """
[[newsletter]]
name = "weekly"
title = "The Meridian Weekly"
sender_name = "The Meridian Review"
sender_address = "digest@meridian.example"
timezone = "America/New_York"
cadence = "0 8 * * 1"

[[newsletter.sections]]
name = "Science"
"""


def replace(line: int, text: str, source: str = VALID) -> str:
    """The source with one line (1-based) replaced."""
    lines = source.splitlines()
    lines[line - 1] = text
    return "\n".join(lines) + "\n"


def error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_newsletters(text, FILE)
    return str(caught.value)


def first(text: str) -> str:
    return error(text).splitlines()[0]


# -- valid files --------------------------------------------------------------------------------


def test_the_shipped_example_parses() -> None:
    config = load_newsletters(REPO / "newsletters.example.toml")
    assert config.publication.name == "The Meridian Review"
    assert config.names == ("daily", "weekly-science")
    daily, weekly = config.newsletters
    assert daily.section_names == config.publication.sections
    assert daily.evergreen == Evergreen(minimum=2, max_age_days=365)
    assert daily.reply_to == "editors@meridian.example"
    assert str(daily.zone) == "Europe/Paris"
    assert weekly.cadence == "0 8 * * 1"
    assert str(weekly.zone) == "America/New_York"
    assert weekly.section_names == ("Science", "Technology")
    assert weekly.evergreen is None
    assert config.get("weekly-science") is weekly


def test_the_example_explains_every_key_in_a_comment() -> None:
    lines = (REPO / "newsletters.example.toml").read_text().splitlines()
    keys = {
        "name",
        "sections",
        "postal_address",
        "title",
        "sender_name",
        "sender_address",
        "reply_to",
        "timezone",
        "cadence",
        "template",
        "subject",
        "preheader",
        "window_days",
        "since_previous",
        "grace_minutes",
        "minimum",
        "max_age_days",
        "maximum",
    }
    for key in keys:
        assert any(line.startswith(f"{key} =") for line in lines), f"{key} is not in the example"
        # the first time a key appears, a comment explains it (one comment may cover two keys)
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key} ="))
        above = lines[index - 2 : index]
        assert any(line.startswith("#") for line in above), f"{key} has no comment above it"


def test_defaults_and_section_spelling() -> None:
    config = parse_newsletters(replace(18, 'name = "SCIENCE"'), FILE)
    daily = config.get("daily")
    assert daily.sections == (SectionConfig("Political history", 5, None), SectionConfig("Science"))
    assert daily.reply_to is None
    assert daily.template == "digest"
    assert daily.subject == DEFAULT_SUBJECT
    assert daily.preheader == ""
    assert (daily.window_days, daily.since_previous, daily.grace_minutes) == (7, True, 60)
    assert daily.evergreen is None
    assert config.path == FILE


def test_section_minimum_prefers_the_section_then_evergreen_then_zero() -> None:
    text = VALID + "minimum = 0\n" + "[newsletter.evergreen]\nminimum = 3\nmax_age_days = 30\n"
    daily = parse_newsletters(text, FILE).get("daily")
    assert daily.evergreen == Evergreen(minimum=3, max_age_days=30)
    assert daily.section_minimum("Political history") == 3
    assert daily.section_minimum("science") == 0
    plain = parse_newsletters(VALID, FILE).get("daily")
    assert plain.section_minimum("Science") == 0
    with pytest.raises(KeyError):
        plain.section_minimum("Technology")


def test_sections_may_be_an_array_of_inline_tables() -> None:
    text = VALID.split("[[newsletter.sections]]")[0]
    text += 'sections = [\n  { name = "Science", maximum = 2 },\n  { name = "Sport" },\n]\n'
    assert first(text) == (
        "newsletters.toml, line 16: newsletter 'daily', sections[1].name: unknown section"
        " 'Sport'; the publication's sections are: Political history, Science, Technology"
        " (add it to [publication] sections or fix the name)"
    )
    text = text.replace('  { name = "Sport" },\n', "")
    daily = parse_newsletters(text, FILE).get("daily")
    assert daily.sections == (SectionConfig("Science", 2),)


def test_get_an_undeclared_newsletter() -> None:
    config = parse_newsletters(VALID + SECOND, FILE)
    with pytest.raises(ConfigError) as caught:
        config.get("monthly")
    assert str(caught.value) == (
        "no newsletter named 'monthly' in newsletters.toml; declared: daily, weekly"
    )


def test_config_objects_are_frozen() -> None:
    config = parse_newsletters(VALID, FILE)
    assert isinstance(config, NewsletterConfig)
    newsletter = config.get("daily")
    assert isinstance(newsletter, Newsletter)
    with pytest.raises(AttributeError):
        newsletter.name = "other"  # type: ignore[misc]


# -- the file itself ----------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "newsletters.toml"
    with pytest.raises(ConfigError) as caught:
        load_newsletters(path)
    assert str(caught.value) == (
        f"no newsletters file at {path}; copy newsletters.example.toml there"
        " or set DIGEST_NEWSLETTERS_FILE"
    )


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "newsletters.toml"
    path.write_bytes(b'[publication]\nname = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_newsletters(path)


def test_toml_syntax_error_names_the_line() -> None:
    message = error(replace(8, 'title = "The Meridian Daily'))
    assert message.startswith("newsletters.toml, line 8: invalid TOML: ")
    assert "(column " in message
    assert "\n" not in message


def test_toml_syntax_error_duplicate_key() -> None:
    message = error(replace(13, 'title = "Again"'))
    assert message.startswith("newsletters.toml, line 13: invalid TOML: ")


# -- unknown and missing keys -------------------------------------------------------------------


def test_unknown_key_names_it_and_lists_the_allowed_keys() -> None:
    assert first(replace(13, 'sendr_name = "The Meridian Review"')).startswith(
        "newsletters.toml, line 13: newsletter 'daily', sendr_name: unknown key 'sendr_name';"
        " did you mean 'sender_name'? the keys of [[newsletter]] are: name, title, sender_name,"
        " sender_address, reply_to, timezone, cadence, template, subject, preheader,"
        " window_days, since_previous, grace_minutes, evergreen, utm, weekly_rollup,"
        " message_stream, approval, approval_deadline_minutes, sections"
    )


def test_unknown_key_in_a_section_and_in_the_publication() -> None:
    message = error(replace(4, 'postal = "x"', replace(18, 'title = "Science"')))
    assert message.splitlines() == [
        "newsletters.toml, line 1: publication.postal_address: missing; add postal_address ="
        ' "1 Harbour Street, Portsmouth, United Kingdom" to this [publication] table',
        "newsletters.toml, line 4: publication.postal: unknown key 'postal'; did you mean"
        " 'postal_address'? the keys of [publication] are: name, sections, postal_address",
        "newsletters.toml, line 17: newsletter 'daily', sections[1].name: missing; add"
        ' name = "Science" to this [[newsletter.sections]] table',
        "newsletters.toml, line 18: newsletter 'daily', sections[1].title: unknown key"
        " 'title'; the keys of [[newsletter.sections]] are: name, maximum, minimum",
    ]


def test_unknown_top_level_table() -> None:
    assert first(VALID + "[newsleter.extra]\nx = 1\n") == (
        "newsletters.toml, line 19: unknown key or table 'newsleter'; did you mean 'newsletter'?"
        " the file holds one [publication] table and [[newsletter]] tables"
    )


def test_missing_required_key_points_at_the_table_header() -> None:
    assert first(replace(12, "")) == (
        "newsletters.toml, line 6: newsletter 'daily', cadence: missing;"
        ' add cadence = "0 7 * * *" to this [[newsletter]] table'
    )


def test_missing_key_of_the_second_newsletter() -> None:
    text = VALID + SECOND.replace('timezone = "America/New_York"\n', "")
    assert first(text) == (
        "newsletters.toml, line 20: newsletter 'weekly', timezone: missing;"
        ' add timezone = "Europe/Paris" to this [[newsletter]] table'
    )


def test_missing_publication_and_newsletters() -> None:
    assert error("") == (
        "newsletters.toml: no [publication] table; add one with name, sections and"
        " postal_address (see newsletters.example.toml)\n"
        "newsletters.toml: no newsletter declared; add a [[newsletter]] table"
        " (see newsletters.example.toml)"
    )


def test_newsletter_written_as_a_single_table() -> None:
    text = VALID.split("[[newsletter]]")[0] + '[newsletter]\nname = "daily"\n'
    assert first(text) == (
        "newsletters.toml, line 6: newsletter: must be written [[newsletter]] with double"
        " brackets, one per entry"
    )


def test_newsletter_without_sections() -> None:
    text = VALID.split("[[newsletter.sections]]")[0]
    assert first(text) == (
        "newsletters.toml, line 6: newsletter 'daily', sections: missing; add at least one"
        " [[newsletter.sections]] table with a name after this [[newsletter]]"
    )


def test_missing_evergreen_minimum() -> None:
    assert first(VALID + "[newsletter.evergreen]\nmax_age_days = 30\n") == (
        "newsletters.toml, line 19: newsletter 'daily', evergreen.minimum: missing;"
        " add minimum = 2 to this [newsletter.evergreen] table"
    )


# -- types and ranges ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            'window_days = "7"',
            'window_days: must be an integer from 1 to 366, got "7" (a string);'
            " write e.g. window_days = 7",
        ),
        (
            "window_days = 400",
            "window_days: must be an integer from 1 to 366, got 400; write e.g. window_days = 7",
        ),
        (
            "grace_minutes = true",
            "grace_minutes: must be an integer from 0 to 10080, got true (true/false);"
            " write e.g. grace_minutes = 60",
        ),
        (
            'since_previous = "yes"',
            'since_previous: must be true or false, got "yes" (a string);'
            " write since_previous = true or false, without quotes",
        ),
        (
            "title = 7",
            'title: must be a string, got 7 (an integer); write title = "The Meridian Daily"',
        ),
        ('title = "  "', 'title: must not be empty; write title = "The Meridian Daily"'),
        (
            'template = "../secret"',
            "template: '../secret' is not a template name; use letters, digits, hyphens and"
            ' underscores, e.g. "digest"',
        ),
        (
            "window_days = 7.5",
            "window_days: must be an integer from 1 to 366, got 7.5 (a number with a fraction);"
            " write e.g. window_days = 7",
        ),
    ],
)
def test_wrong_type_or_range(line: str, message: str) -> None:
    # title replaces its own line 8; the other keys go on the free line 13
    number = 8 if line.startswith("title") else 13
    assert first(replace(number, line)) == (
        f"newsletters.toml, line {number}: newsletter 'daily', {message}"
    )


def test_section_maximum_out_of_range() -> None:
    assert first(VALID + "maximum = 0\n") == (
        "newsletters.toml, line 19: newsletter 'daily', sections[1].maximum: must be an integer"
        " from 1 to 50, got 0; write e.g. maximum = 5"
    )


def test_section_minimum_needs_evergreen() -> None:
    assert first(VALID + "minimum = 2\n") == (
        "newsletters.toml, line 19: newsletter 'daily', sections[1].minimum: has no effect"
        " without evergreen fill; add a [newsletter.evergreen] table to this newsletter or"
        " remove the minimum"
    )


def test_evergreen_minimum_above_a_section_maximum() -> None:
    text = VALID + "maximum = 2\n[newsletter.evergreen]\nminimum = 3\n"
    assert first(text) == (
        "newsletters.toml, line 19: newsletter 'daily', sections[1].maximum: evergreen.minimum"
        " (3) is above maximum (2); raise the maximum or set a lower minimum for this section"
    )


# -- sections -----------------------------------------------------------------------------------


def test_unknown_section() -> None:
    text = VALID + '\n[[newsletter.sections]]\nname = "Sport"\n'
    assert error(text) == (
        "newsletters.toml, line 21: newsletter 'daily', sections[2].name: unknown section"
        " 'Sport'; the publication's sections are: Political history, Science, Technology"
        " (add it to [publication] sections or fix the name)"
    )


def test_duplicate_section_in_a_newsletter() -> None:
    text = VALID + '\n[[newsletter.sections]]\nname = "political HISTORY"\n'
    assert error(text) == (
        "newsletters.toml, line 21: newsletter 'daily', sections[2].name: section"
        " 'Political history' is already sections[0] of this newsletter; list each section once"
    )


def test_duplicate_section_in_the_publication_points_at_the_element() -> None:
    text = replace(3, 'sections = [\n  "Science",\n  "science",\n]')
    assert first(text) == (
        "newsletters.toml, line 5: publication.sections[1]: 'science' is listed twice"
        " (also sections[0], letter case aside); list each section once"
    )


def test_publication_sections_must_be_a_non_empty_list() -> None:
    assert first(replace(3, "sections = []")) == (
        "newsletters.toml, line 3: publication.sections: must be a non-empty array of section"
        ' names, got an empty array; write sections = ["Political history", "Science"]'
    )


# -- names ----------------------------------------------------------------------------------------


def test_duplicate_newsletter_name() -> None:
    text = VALID + SECOND.replace('name = "weekly"', 'name = "daily"')
    assert error(text) == (
        "newsletters.toml, line 21: newsletter 'daily', name: 'daily' is already the name of"
        " newsletter[0] (line 7); give each newsletter its own name"
    )


def test_newsletter_name_must_be_a_slug() -> None:
    assert first(replace(7, 'name = "Daily News"')) == (
        "newsletters.toml, line 7: newsletter[0], name: 'Daily News' is not a valid name; use"
        " lowercase letters, digits and hyphens, e.g. 'daily-news'"
    )


# -- cadence, time zone, addresses, patterns -----------------------------------------------------


def test_bad_cron_gives_apschedulers_message() -> None:
    assert first(replace(12, 'cadence = "0 25 * * *"')) == (
        "newsletters.toml, line 12: newsletter 'daily', cadence: invalid crontab '0 25 * * *':"
        " Error validating expression '25': the last value (25) is higher than the maximum"
        ' value (23); write it like "0 7 * * *" (07:00 daily) or "0 8 * * 1" (Mondays 08:00)'
    )


@pytest.mark.parametrize(
    ("cadence", "reason"),
    [
        ("0 7 * *", "Wrong number of fields; got 4, expected 5"),
        ("0 0 30 2 *", "it never fires: that date does not exist"),
        ("0 0 29 2 *", "it fires only on 29 February"),
        ("0 7 13 * 5", "both the day of the month (13) and the day of the week (5)"),
    ],
)
def test_cadences_that_are_refused(cadence: str, reason: str) -> None:
    message = first(replace(12, f'cadence = "{cadence}"'))
    assert message.startswith(
        f"newsletters.toml, line 12: newsletter 'daily', cadence: invalid crontab '{cadence}': "
    )
    assert reason in message


def test_bad_time_zone() -> None:
    assert first(replace(11, 'timezone = "Europe/Pariss"')) == (
        "newsletters.toml, line 11: newsletter 'daily', timezone: unknown time zone"
        " 'Europe/Pariss'; did you mean 'Europe/Paris'? use an IANA name like \"Europe/Paris\""
        ' or "America/New_York"'
    )


@pytest.mark.parametrize(
    ("line_number", "line", "key"),
    [
        (10, 'sender_address = "digest.meridian.example"', "sender_address"),
        (13, 'reply_to = "editors@"', "reply_to"),
    ],
)
def test_bad_email(line_number: int, line: str, key: str) -> None:
    message = first(replace(line_number, line))
    value = line.split(" = ")[1].strip('"')
    assert message.startswith(
        f"newsletters.toml, line {line_number}: newsletter 'daily', {key}: {value!r} is not a"
        " valid email address: "
    )
    assert message.endswith('Write it like "editors@example.com"')


def test_bad_subject_pattern_gives_jinjas_message() -> None:
    assert first(replace(13, 'subject = "{{ newsletter.title }"')) == (
        "newsletters.toml, line 13: newsletter 'daily', subject: not a valid template:"
        " unexpected '}' (template line 1); fix the {{ ... }} or {% ... %} markup"
    )


def test_bad_preheader_pattern() -> None:
    message = first(replace(13, 'preheader = "{% if x %}open"'))
    assert message.startswith(
        "newsletters.toml, line 13: newsletter 'daily', preheader: not a valid template: "
    )


def test_subject_must_be_one_line() -> None:
    assert first(replace(13, 'subject = "Daily\\nDigest"')) == (
        "newsletters.toml, line 13: newsletter 'daily', subject: must be one line without"
        " control characters; remove the line breaks"
    )


# -- several mistakes ----------------------------------------------------------------------------


def test_several_mistakes_are_reported_together_top_first() -> None:
    text = replace(11, 'timezone = "Mars/Olympus"', replace(12, 'cadence = "daily"'))
    text += '\n[[newsletter.sections]]\nname = "Sport"\n'
    lines = error(text).splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "newsletters.toml, line 11",
        "newsletters.toml, line 12",
        "newsletters.toml, line 21",
    ]


def test_an_owner_without_a_valid_name_is_named_by_position() -> None:
    text = VALID + SECOND.replace('name = "weekly"\n', "")
    lines = error(text).splitlines()
    assert lines[0] == (
        "newsletters.toml, line 20: newsletter[1], name: missing;"
        ' add name = "daily" to this [[newsletter]] table'
    )


# -- toml_lines ----------------------------------------------------------------------------------

LINES_SAMPLE = """\
# a comment with [brackets] and key = value
[publication]
name = "x"  # trailing comment
sections = [
  "A",  # one
  "B, with ] and # inside",
]
a."b.c".d = 1

[[newsletter]]
name = "daily"
evergreen = { minimum = 2, max_age_days = 3 }

[[newsletter.sections]]
name = "A"

[[newsletter]]
name = '''x
[fake]
y = 1
'''
notes = \"\"\"
z = "quoted \\\"\"\" inside"
\"\"\"
[newsletter.evergreen]
minimum = 1
[[newsletter.sections]]
name = "B"
[[newsletter.sections]]
  'name' = "A"
dt = 1979-05-27 07:32:00Z
list = [ { name = "x" },
   { name = "y" } ]
"""


def test_toml_lines_maps_tables_keys_and_array_elements() -> None:
    lines = map_lines(LINES_SAMPLE)
    expected = {
        ("publication",): 2,
        ("publication", "name"): 3,
        ("publication", "sections"): 4,
        ("publication", "sections", 0): 5,
        ("publication", "sections", 1): 6,
        ("publication", "a"): 8,
        ("publication", "a", "b.c", "d"): 8,
        ("newsletter",): 10,
        ("newsletter", 0): 10,
        ("newsletter", 0, "name"): 11,
        ("newsletter", 0, "evergreen"): 12,
        ("newsletter", 0, "evergreen", "max_age_days"): 12,
        ("newsletter", 0, "sections", 0): 14,
        ("newsletter", 0, "sections", 0, "name"): 15,
        ("newsletter", 1): 17,
        ("newsletter", 1, "name"): 18,
        ("newsletter", 1, "notes"): 22,
        ("newsletter", 1, "evergreen"): 25,
        ("newsletter", 1, "evergreen", "minimum"): 26,
        ("newsletter", 1, "sections"): 27,
        ("newsletter", 1, "sections", 0, "name"): 28,
        ("newsletter", 1, "sections", 1): 29,
        ("newsletter", 1, "sections", 1, "name"): 30,
        ("newsletter", 1, "sections", 1, "dt"): 31,
        ("newsletter", 1, "sections", 1, "list", 0, "name"): 32,
        ("newsletter", 1, "sections", 1, "list", 1): 33,
        ("newsletter", 1, "sections", 1, "list", 1, "name"): 33,
    }
    assert {path: lines.exact(path) for path in expected} == expected


def test_toml_lines_sees_nothing_inside_strings() -> None:
    lines = map_lines(LINES_SAMPLE)
    assert lines.exact(("fake",)) is None
    assert lines.exact(("newsletter", 1, "y")) is None
    assert lines.exact(("newsletter", 1, "z")) is None
    assert lines.exact(("brackets",)) is None


def test_toml_lines_falls_back_to_the_nearest_ancestor() -> None:
    lines = map_lines(LINES_SAMPLE)
    assert lines.exact(("newsletter", 0, "sections", 0, "maximum")) is None
    assert lines.line_of(("newsletter", 0, "sections", 0, "maximum")) == 14
    assert lines.line_of(("publication", "sections", 7)) == 4
    assert lines.line_of(("newsletter", 1, "evergreen", "nothing", 3)) == 25
    assert lines.line_of(("nowhere",)) is None
    assert lines.line_of(()) is None


def test_toml_lines_single_line_array_elements_share_its_line() -> None:
    lines = map_lines('[p]\nsections = ["A", "B"]\n')
    assert lines.exact(("p", "sections", 1)) == 2


def test_toml_lines_with_windows_line_endings() -> None:
    lines = map_lines('[p]\r\nname = "x"\r\n\r\n[[n]]\r\nkey = [\r\n 1,\r\n 2,\r\n]\r\n')
    assert lines.exact(("p", "name")) == 2
    assert lines.exact(("n", 0)) == 4
    assert lines.exact(("n", 0, "key", 1)) == 7


def test_toml_lines_top_level_keys_and_quoted_headers() -> None:
    text = 'title = "x"\n["quoted.table" . inner]\nk = 1\n[[a."b"]]\n[[a.b]]\nv = 2\n'
    lines = map_lines(text)
    assert lines.exact(("title",)) == 1
    assert lines.exact(("quoted.table", "inner", "k")) == 3
    assert lines.exact(("a", "b", 1, "v")) == 6


def test_toml_lines_never_raises_on_broken_text() -> None:
    for text in ["[unclosed", 'a = "open', "= 1", "[[x]]\n[[", "a = [1, {b = ", "'''", "\\"]:
        map_lines(text)  # no exception


def test_utm_table_defaults_and_checks_its_values() -> None:
    text = (REPO / "newsletters.example.toml").read_text()
    config = parse_newsletters(text, Path("newsletters.toml"))
    assert config.get("daily").utm == {
        "source": "meridian",
        "medium": "email",
        "campaign": "daily-digest",
    }
    assert config.get("weekly-science").utm is None
    bad = text.replace('medium = "email"', 'medium = "e mail"', 1)
    with pytest.raises(ConfigError, match=r"utm.medium: 'e mail': use letters"):
        parse_newsletters(bad, Path("newsletters.toml"))


def test_approval_keys_default_parse_and_are_checked() -> None:
    daily = parse_newsletters(VALID, FILE).get("daily")
    assert (daily.approval, daily.approval_deadline_minutes) == ("none", 60)
    waiting = parse_newsletters(replace(13, 'approval = "wait"'), FILE).get("daily")
    assert waiting.approval == "wait"
    text = replace(13, 'approval = "deadline"\napproval_deadline_minutes = 15')
    deadline = parse_newsletters(text, FILE).get("daily")
    assert (deadline.approval, deadline.approval_deadline_minutes) == ("deadline", 15)
    assert first(replace(13, 'approval = "wiat"')) == (
        "newsletters.toml, line 13: newsletter 'daily', approval: must be one of"
        ' "none", "wait", "deadline", got "wiat" (a string); did you mean \'wait\'?'
        ' write e.g. approval = "none"'
    )
    assert first(replace(13, "approval_deadline_minutes = 30")) == (
        "newsletters.toml, line 13: newsletter 'daily', approval_deadline_minutes: has no"
        ' effect unless approval = "deadline"; set that or remove the deadline'
    )
    assert "approval_deadline_minutes: must be an integer from 0 to 10080, got -5" in error(
        replace(13, 'approval = "deadline"\napproval_deadline_minutes = -5')
    )


def test_the_example_documents_the_approval_keys() -> None:
    weekly = load_newsletters(REPO / "newsletters.example.toml").get("weekly-science")
    assert (weekly.approval, weekly.approval_deadline_minutes) == ("deadline", 120)
    lines = (REPO / "newsletters.example.toml").read_text().splitlines()
    for key in ("approval", "approval_deadline_minutes"):
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key} ="))
        assert lines[index - 1].startswith("#"), f"{key} has no comment above it"
