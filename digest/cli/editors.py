"""``digest editors``: the accounts that may log in to the editors' pages under /admin/.

Accounts live in the store (``add``, ``remove``) or in the setting ``DIGEST_EDITORS``
(``hash`` prints what to put there); a name in the setting takes precedence over the store.
Passwords are never arguments, which would leave them in the shell's history and the
process list: they are typed twice at a hidden prompt, or read as one line from standard
input with ``--password-stdin`` for scripts.
"""

from __future__ import annotations

import sys

import click

from digest.cli.app import cli, print_json, settings_of
from digest.errors import NotFoundError, RefusedError
from digest.passwords import hash_password, name_problem, password_problem
from digest.wiring import build

STDIN_HELP = "Read the password as one line from standard input instead of prompting."


@cli.group("editors")
def editors_group() -> None:
    """Add, remove and list the editors who may log in to the pages under /admin/.

    \b
    Example:
      digest editors add ines
      digest editors list
    """


@editors_group.command()
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help=STDIN_HELP)
@click.option("--replace", is_flag=True, help="Set a new password for an existing editor.")
@click.pass_context
def add(ctx: click.Context, name: str, password_stdin: bool, replace: bool) -> None:
    """Add an editor account to the store, with a password of at least 12 characters.

    The password is hashed with scrypt; only the hash is kept. An existing name is refused
    unless --replace is given, which also ends that editor's open sessions. A name declared
    in DIGEST_EDITORS is refused: the setting takes precedence, so change it there.

    \b
    Example:
      digest editors add ines
      printf '%s\\n' "$EDITOR_PASSWORD" | digest editors add ines --password-stdin --replace
    """
    problem = name_problem(name)
    if problem:
        raise click.BadParameter(problem, param_hint="NAME")
    password = read_password(password_stdin)
    with build(settings_of(ctx)) as parts:
        parts.editors().add(name, password, replace=replace)
    click.echo(f"{'replaced the password of' if replace else 'added'} editor {name}")


@editors_group.command()
@click.argument("name")
@click.pass_context
def remove(ctx: click.Context, name: str) -> None:
    """Remove an editor account from the store; their open sessions end at once.

    \b
    Example:
      digest editors remove ines
    """
    with build(settings_of(ctx)) as parts:
        store = parts.editors()
        if store.remove(name):
            click.echo(f"removed editor {name}")
            return
        if name in store.configured:
            raise RefusedError(f"{name!r} is declared in DIGEST_EDITORS; remove it there")
    raise NotFoundError(f"no editor called {name!r} in the store; see `digest editors list`")


@editors_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """List editor accounts: name, where the account is kept, and when it was added.

    A store account whose name DIGEST_EDITORS also declares is marked "shadowed": the
    setting's hash is the one checked.

    \b
    Example:
      digest editors list
      digest editors list --json
    """
    with build(settings_of(ctx)) as parts:
        accounts = parts.editors().accounts()
    if as_json:
        print_json(
            [
                {
                    "name": a.name,
                    "source": a.source,
                    "created_at": a.created_at.isoformat() if a.created_at else None,
                    "shadowed": a.shadowed,
                }
                for a in accounts
            ]
        )
        return
    for a in accounts:
        added = a.created_at.strftime("%Y-%m-%d %H:%M UTC") if a.created_at else "-"
        note = "  (shadowed by DIGEST_EDITORS)" if a.shadowed else ""
        click.echo(f"{a.name}  {a.source}  {added}{note}")
    if not accounts:
        click.echo("no editors; add one with `digest editors add NAME`", err=True)


@editors_group.command("hash")
@click.option("--password-stdin", is_flag=True, help=STDIN_HELP)
def hash_command(password_stdin: bool) -> None:
    """Print a password hash for DIGEST_EDITORS, for accounts kept in the settings.

    \b
    Example:
      digest editors hash
      DIGEST_EDITORS='{"ines": "scrypt$32768$8$1$..."}' digest serve
    """
    click.echo(hash_password(read_password(password_stdin)))


def read_password(from_stdin: bool) -> str:
    """The new password, typed twice at a hidden prompt or one line of standard input."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = str(
            click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")
        )
    problem = password_problem(password)
    if problem:
        raise click.UsageError(problem)
    return password
