"""``digest check``: everything a send depends on, checked before any send."""

from __future__ import annotations

import click

from digest.cli.app import cli, settings_of
from digest.store import migrate
from digest.wiring import build


@cli.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Check the settings, the store, the newsletters file and every template.

    Stops at the first problem with a message naming the setting, file or line; prints
    what it checked when all is well. Run it after changing any of them.

    \b
    Example:
      digest check
      DIGEST_TEMPLATES_DIR=my-templates digest check
    """
    settings = settings_of(ctx)
    click.echo("settings: valid")
    with build(settings) as parts:
        revision = migrate.current_revision(parts.engine)
        click.echo(f"store: {parts.engine.url.render_as_string(hide_password=True)} at {revision}")
        config = parts.newsletters()
        names = ", ".join(config.names)
        click.echo(f"newsletters: {config.path}: {len(config.newsletters)} ({names})")
        templates = parts.templates()
        folders = " then ".join(str(folder) for folder in templates.folders)
        click.echo(f"templates: {len(templates.names())} compiled from {folders}")
        support = parts.lint_support()
        click.echo(
            f"linter data: {len(support.features)} features"
            if support
            else "linter data: not found; previews skip the lint (set DIGEST_CANIEMAIL_DIR)"
        )
