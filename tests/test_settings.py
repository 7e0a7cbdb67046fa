"""Settings: .env.example lists every setting, and a bad value names its variable."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, make_settings

from digest.errors import ConfigError
from digest.settings import ENV_PREFIX, Settings, load_settings
from digest.store.engine import create_store_engine


def example_names() -> dict[str, str]:
    """Each DIGEST_ variable of .env.example with the comment line just above it."""
    lines = (REPO / ".env.example").read_text().splitlines()
    found = {}
    for index, line in enumerate(lines):
        match = re.match(r"^(DIGEST_[A-Z_]+)=", line)
        if match:
            assert lines[index - 1].startswith("#"), f"{match[1]} has no comment above it"
            found[match[1]] = lines[index - 1]
    return found


def test_env_example_and_settings_list_the_same_names() -> None:
    declared = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert set(example_names()) == declared


def test_env_example_values_are_valid_settings(tmp_path: Path) -> None:
    values = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.startswith(ENV_PREFIX):
            name, _, value = line.partition("=")
            values[name] = value
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(f"{k}={v}" for k, v in values.items()))
    settings = load_settings(_env_file=env_file)
    assert settings.section_map == {"tech": "Technology", "sci": "Science"}


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("publication_timezone", "Mars/Olympus_Mons", "DIGEST_PUBLICATION_TIMEZONE"),
        ("fetch_timeout", "soon", "DIGEST_FETCH_TIMEOUT"),
        ("fetch_max_bytes", "-1", "DIGEST_FETCH_MAX_BYTES"),
        ("base_url", "news.example.com", "DIGEST_BASE_URL"),
        ("log_level", "LOUD", "DIGEST_LOG_LEVEL"),
        ("section_map", "tech=Technology", "DIGEST_SECTION_MAP"),
        ("section_map", '["Technology"]', "DIGEST_SECTION_MAP"),
    ],
)
def test_bad_setting_names_the_variable(field: str, value: str, named: str, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"{ENV_PREFIX}{field.upper()}={value}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=env_file)
    message = str(caught.value)
    assert named in message
    assert ".env.example" in message


@pytest.mark.parametrize("url", ["mysql://db/x", "not a url at all"])
def test_unsupported_database_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="DIGEST_DATABASE_URL"):
        create_store_engine(url)


def test_default_store_is_a_sqlite_file_in_the_data_folder(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert settings.store_url == f"sqlite:///{(tmp_path / 'data' / 'digest.sqlite3').resolve()}"
    assert make_settings(tmp_path, database_url="").database_url is None


def test_cli_stops_on_a_bad_setting_with_exit_2(tmp_path: Path) -> None:
    env = {"DIGEST_FETCH_TIMEOUT": "forever", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "digest", "articles"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "DIGEST_FETCH_TIMEOUT" in result.stderr
    assert "Traceback" not in result.stderr
