"""caniemail's support data: the targets linted, and ``features.json`` read into values.

The one I/O edge of the linter: ``load_support`` reads caniemail's ``features.json`` from
the shared corpora at run time (the data is licensed separately and never copied into the
project). Everything else here only holds or looks up what was read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from digest.errors import ConfigError

OUTLOOK_WINDOWS = ("outlook", "windows")

TARGETS: tuple[tuple[str, str], ...] = (
    ("gmail", "desktop-webmail"),
    ("gmail", "ios"),
    ("gmail", "android"),
    ("gmail", "mobile-webmail"),
    ("outlook", "windows"),
    ("outlook", "outlook-com"),
    ("apple-mail", "macos"),
    ("apple-mail", "ios"),
    ("yahoo", "desktop-webmail"),
    ("yahoo", "ios"),
    ("yahoo", "android"),
)
"""The (client, platform) pairs linted by default: every Gmail and Yahoo platform caniemail
tests, Outlook for Windows and outlook.com, Apple Mail on macOS and iOS."""

FEATURES_FILE = "features.json"


@dataclass(frozen=True)
class FeatureSupport:
    """One caniemail feature: its title, the latest support per target, its numbered notes."""

    slug: str
    title: str
    latest: Mapping[tuple[str, str], str]
    notes_by_num: Mapping[str, str]

    def support(self, client: str, platform: str) -> str | None:
        """The support string of the latest tested version ("y", "a #1 #3", …), if tested."""
        return self.latest.get((client, platform))

    def notes(self, support: str) -> tuple[str, ...]:
        """The note texts a support string refers to ("a #1 #3" -> notes 1 and 3)."""
        return tuple(
            self.notes_by_num.get(token[1:], token)
            for token in support.split()
            if token.startswith("#")
        )


@dataclass(frozen=True)
class Support:
    """caniemail's support data, by feature slug."""

    features: Mapping[str, FeatureSupport]

    def platforms(self, client: str) -> tuple[str, ...]:
        """Every platform of a client that some feature was tested on, in first-seen order."""
        seen: dict[str, None] = {}
        for feature in self.features.values():
            for each_client, platform in feature.latest:
                if each_client == client:
                    seen.setdefault(platform, None)
        return tuple(seen)

    def kind(self, feature: str, client: str, platform: str) -> str:
        """The support kind: y, a, n or u; empty when the feature or target is not in the data."""
        data = self.features.get(feature)
        value = data.support(client, platform) if data else None
        return value.split()[0] if value and value.split() else ""


def default_support_folder() -> Path:
    """``../shared/corpora/caniemail`` beside the repository."""
    return Path(__file__).resolve().parents[3].parent / "shared" / "corpora" / "caniemail"


def load_support(folder: Path) -> Support:
    """Read caniemail's ``features.json`` from ``folder``; a ``ConfigError`` says what to do."""
    path = folder / FEATURES_FILE
    advice = (
        f"put caniemail's {FEATURES_FILE} (github.com/hteumeuleu/caniemail, flattened) in "
        f"{folder}, or point the linter at the folder that holds it"
    )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"caniemail support data not found: {path} is missing; {advice}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read caniemail data {path}: {exc.strerror}; {advice}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); {advice}") from exc
    try:
        features = {slug: _feature_support(slug, entry) for slug, entry in raw.items()}
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
        raise ConfigError(f"{path} is not in caniemail's format ({exc!r}); {advice}") from exc
    if not features:
        raise ConfigError(f"{path} holds no features; {advice}")
    return Support(MappingProxyType(features))


def _feature_support(slug: str, entry: Mapping[str, Any]) -> FeatureSupport:
    latest: dict[tuple[str, str], str] = {}
    for client, platforms in entry["stats"].items():
        for platform, versions in platforms.items():
            # versions are listed oldest first; the last one is the latest tested
            values = list(versions.values())
            if values:
                latest[(str(client), str(platform))] = str(values[-1]).strip()
    notes = entry.get("notes_by_num") or {}
    return FeatureSupport(
        slug=str(slug),
        title=str(entry.get("title") or slug),
        latest=MappingProxyType(latest),
        notes_by_num=MappingProxyType({str(k): str(v) for k, v in notes.items()}),
    )
