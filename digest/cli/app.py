"""The ``digest`` command group: settings, logging, JSON output and the exit codes.

Exit codes: 0 success; 1 the work ran but part of it failed (a source could not be read);
2 the command was used wrongly or a setting is invalid. Every command has ``--help`` with an
example. Errors of the ``DigestError`` tree print their message, never a traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
import orjson

from digest.errors import ConfigError, DigestError
from digest.observe.logs import LogFormat, configure_logging
from digest.settings import Settings, load_settings


def settings_of(ctx: click.Context) -> Settings:
    """The settings, loaded on first use so that ``--help`` works even when one is wrong."""
    settings: Settings = ctx.find_root().obj["settings"]()
    return settings


COMMAND_MODULES = {
    "articles": "articles",
    "check": "check",
    "db": "db",
    "demo": "demo",
    "edition": "operate",
    "editions": "operate",
    "editors": "editors",
    "ingest": "ingest",
    "newsletters": "editions",
    "pause": "operate",
    "plan": "editions",
    "preview": "preview",
    "queue": "queue_status",
    "resume": "operate",
    "retry-failed": "operate",
    "run": "run",
    "schedule": "operate",
    "send": "send",
    "serve": "serve",
    "subscribers": "subscribers",
    "worker": "worker",
}
"""Which module of ``digest.cli`` defines each command.

A command's module is imported when the command is used, not at start-up: importing all
of them (FastAPI for ``serve``, procrastinate for ``worker``, scipy for planning...) cost
every invocation about a second before it did anything.
"""


class LazyGroup(click.Group):
    """A group that imports a command's module the first time the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMAND_MODULES) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(f"digest.cli.{COMMAND_MODULES[cmd_name]}")
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--env-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File of DIGEST_* settings (default: .env here, if any); the environment wins.",
)
@click.version_option(package_name="digest")
@click.pass_context
def cli(ctx: click.Context, env_file: Path | None) -> None:
    """digest: newsletter digests from a publication's articles.

    \b
    Example:
      digest ingest feeds/ exports/ https://example.com/rss.xml
      digest articles --section Science --limit 5
    """
    cache: dict[str, Settings] = {}

    def settings() -> Settings:
        if "settings" not in cache:
            cache["settings"] = load_settings(_env_file=env_file or Path(".env"))
            loaded = cache["settings"]
            _configure_logging(loaded.log_level_number(), loaded.log_format)
        return cache["settings"]

    ctx.obj = {"settings": settings}


# Libraries that log ordinary conditions (a page fragment with no <html>) as errors; their
# lines help only when debugging extraction.
CHATTY_LIBRARIES = ("trafilatura", "htmldate", "courlan", "justext")


def _configure_logging(level: int, log_format: LogFormat) -> None:
    configure_logging(level, log_format)
    quiet = level if level <= logging.DEBUG else logging.CRITICAL
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)


def print_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def main() -> NoReturn:
    """Entry point: run the CLI, turning digest's own errors into messages and exit codes."""
    try:
        code = cli.main(standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except DigestError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
