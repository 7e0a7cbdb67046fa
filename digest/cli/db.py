"""``digest db``: the store's schema."""

from __future__ import annotations

import click

from digest.cli.app import cli, settings_of
from digest.store import migrate
from digest.wiring import Parts, build


@cli.group()
def db() -> None:
    """Manage the store's schema.

    \b
    Example:
      DIGEST_DATABASE_URL=postgresql+psycopg://digest@db/digest digest db upgrade
    """


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or migrate the store's tables to the newest schema.

    \b
    Example:
      digest db upgrade
    """
    with build(settings_of(ctx), migrate=False) as parts:
        revision = migrate.upgrade(parts.engine)
        click.echo(f"{_safe_url(parts)} is at schema revision {revision}")


@db.command("current")
@click.pass_context
def db_current(ctx: click.Context) -> None:
    """Print the store's schema revision and the newest one this version knows.

    \b
    Example:
      digest db current
    """
    with build(settings_of(ctx), migrate=False) as parts:
        current = migrate.current_revision(parts.engine) or "none (empty database)"
        click.echo(f"{_safe_url(parts)}: revision {current}; newest {migrate.head_revision()}")


def _safe_url(parts: Parts) -> str:
    return parts.engine.url.render_as_string(hide_password=True)
