"""The editors' newsletter configuration: a TOML file, read and validated once at start-up.

``load_newsletters`` reads the file (the only I/O here); ``parse_newsletters`` is pure and does
the rest. A mistake stops the program with a ``ConfigError`` whose message names the file,
the line and the key, and says what to do::

    newsletters.toml, line 14: newsletter 'daily', sections[2].name: unknown section 'Sport';
    the publication's sections are: Political history, Science (add it to [publication]
    sections or fix the name)

Every mistake found is reported, one per line, top of the file first. Positions of array
elements are counted from 0, as in the key paths of ``digest.toml_lines``. The schema is
documented key by key in ``newsletters.example.toml`` at the root of the repository.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from digest.config_checks import Checker
from digest.errors import ConfigError
from digest.newsletter_model import (
    DEFAULT_SUBJECT,
    Evergreen,
    Newsletter,
    NewsletterConfig,
    Publication,
    SectionConfig,
)
from digest.newsletter_schema import read_config
from digest.toml_lines import map_lines

__all__ = [
    "DEFAULT_SUBJECT",
    "Evergreen",
    "Newsletter",
    "NewsletterConfig",
    "Publication",
    "SectionConfig",
    "load_newsletters",
    "parse_newsletters",
]


def load_newsletters(path: Path) -> NewsletterConfig:
    """Read and validate the newsletters file; every problem is a ConfigError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"no newsletters file at {path}; copy newsletters.example.toml there"
            " or set DIGEST_NEWSLETTERS_FILE"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read the newsletters file {path}: {exc.strerror}") from exc
    return parse_newsletters(text, path)


def parse_newsletters(text: str, path: Path) -> NewsletterConfig:
    """Parse and validate the text of a newsletters file (``path`` only names it)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_syntax_message(path, exc)) from exc
    checker = Checker(path, map_lines(text))
    config = read_config(checker, data)
    checker.raise_if_any()
    assert config is not None  # only None when a problem was recorded
    return config


def _toml_syntax_message(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    """tomllib's "Reason (at line N, column C)" as "FILE, line N: Reason (column C)"."""
    message = str(exc)
    found = re.search(
        r"^(?P<reason>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$", message
    )
    if found:
        where = f"{path}, line {found['line']}"
        message = f"{found['reason']} (column {found['column']})"
    else:
        found_end = re.search(r"^(?P<reason>.*) \(at end of document\)$", message)
        where = f"{path}, at the end"
        message = found_end["reason"] if found_end else message
    return f"{where}: invalid TOML: {message}; fix the syntax (https://toml.io explains it)"
