"""The ``digest`` command line. The edge where settings become parts and errors become exits.

Exit codes: 0 success; 1 the work ran but part of it failed (a source could not be read);
2 the command was used wrongly or a setting is invalid. Every command has ``--help`` with an
example. Errors of the ``DigestError`` tree print their message, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn

import click
import orjson

from digest.errors import ConfigError, DigestError
from digest.ingest import IngestReport
from digest.model import StoredArticle
from digest.settings import Settings, load_settings
from digest.store import migrate
from digest.wiring import Parts, build, http_client


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.find_root().obj["settings"]()
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
            _configure_logging(cache["settings"].log_level_number())
        return cache["settings"]

    ctx.obj = {"settings": settings}


# Libraries that log ordinary conditions (a page fragment with no <html>) as errors; their
# lines help only when debugging extraction.
CHATTY_LIBRARIES = ("trafilatura", "htmldate", "courlan", "justext")


def _configure_logging(level: int) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    quiet = level if level <= logging.DEBUG else logging.CRITICAL
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)


def _print_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


# -- ingest ---------------------------------------------------------------------------------


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--section", metavar="NAME", help="Section of items whose source names none.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the counts.")
@click.pass_context
def ingest(
    ctx: click.Context, sources: tuple[str, ...], section: str | None, as_json: bool
) -> None:
    """Read articles from files, folders and http(s) URLs into the store.

    The format of each source is detected: RSS/Atom/JSON feeds, HTML article pages and
    plain-text page exports. Ingesting the same article twice changes nothing; a changed
    one is updated in place. Exit 0 when every source was read, 1 when any could not be.

    \b
    Example:
      digest ingest --json ../shared/seed/ https://example.com/feed.xml
      digest ingest --section Science science-feed.xml
    """
    with build(_settings(ctx)) as parts, http_client(parts) as client:
        report = parts.ingestor(client).run(sources, section=section)
    if as_json:
        _print_json(report.as_json())
    else:
        _print_report(report)
    ctx.exit(0 if report.ok else 1)


def _print_report(report: IngestReport) -> None:
    counts = report.as_json()
    click.echo(
        f"added {counts['added']}, updated {counts['updated']}, unchanged {counts['unchanged']}; "
        f"rejected {len(report.rejected)}, failed sources {len(report.failed_sources)}"
    )
    for rejection in report.rejected:
        click.echo(f"rejected: {rejection.source}: {rejection.item}: {rejection.reason}", err=True)
    for notice in report.failed_sources:
        click.echo(f"failed: {notice.source}: {notice.reason}", err=True)
    for notice in report.warnings:
        click.echo(f"warning: {notice.source}: {notice.reason}", err=True)


# -- articles -------------------------------------------------------------------------------


def _parse_since(ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date such as 2025-07-19") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_settings(ctx).zone)
    return moment


@cli.command()
@click.option("--section", metavar="NAME", help="Only this section (any letter case).")
@click.option("--since", metavar="ISO-DATE", callback=_parse_since, help="Published on or after.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="At most N articles.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of articles.")
@click.pass_context
def articles(
    ctx: click.Context,
    section: str | None,
    since: datetime | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """List stored articles, newest first.

    \b
    Example:
      digest articles --section "Political history" --since 2025-07-01 --limit 10
      digest articles --json | jq '.[0].related'
    """
    with build(_settings(ctx)) as parts:
        found = parts.articles.list_articles(section=section, since=since, limit=limit)
    if as_json:
        _print_json([article_json(a) for a in found])
        return
    for article in found:
        when = article.published_at.date().isoformat() if article.published_at else "undated   "
        minutes = f"{article.read_minutes} min" if article.read_minutes else "     "
        click.echo(f"{when}  {minutes:>6}  {article.section:<20.20}  {article.title}")
    if not found:
        click.echo("no articles match; ingest some with `digest ingest SOURCE`", err=True)


def article_json(article: StoredArticle) -> dict[str, Any]:
    return {
        "id": article.id,
        "url": article.url,
        "section": article.section,
        "title": article.title,
        "standfirst": article.standfirst,
        "author": article.author,
        "published_at": article.published_at.isoformat() if article.published_at else None,
        "read_minutes": article.read_minutes,
        "body": article.body,
        "related": [
            {
                "section": r.ref.section,
                "standfirst": r.ref.standfirst,
                "title": r.ref.title or r.target_title,
                "date": r.ref.date.isoformat() if r.ref.date else None,
                "url": r.ref.url or r.target_url,
            }
            for r in article.related
        ],
    }


# -- db ---------------------------------------------------------------------------------------


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
    with build(_settings(ctx), migrate=False) as parts:
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
    with build(_settings(ctx), migrate=False) as parts:
        current = migrate.current_revision(parts.engine) or "none (empty database)"
        click.echo(f"{_safe_url(parts)}: revision {current}; newest {migrate.head_revision()}")


def _safe_url(parts: Parts) -> str:
    return parts.engine.url.render_as_string(hide_password=True)


# -- demo -------------------------------------------------------------------------------------


@cli.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Run the pipeline on the bundled demo corpus (dated relative to today).

    Writes the Meridian Review's articles as page exports and an RSS feed under the data
    folder, ingests them, and lists what the store now holds.

    \b
    Example:
      DIGEST_DATA_DIR=/tmp/digest-demo digest demo
    """
    from digest.demo import write_corpus

    settings = _settings(ctx)
    folder = settings.data_dir / "demo-corpus"
    files = write_corpus(folder, date.today(), settings.base_url)
    click.echo(f"Wrote {len(files) - 1} page exports and 1 feed into {folder}")
    with build(settings) as parts, http_client(parts) as client:
        report = parts.ingestor(client).run([str(folder)])
        _print_report(report)
        stored = parts.articles.list_articles()
    resolved = sum(1 for a in stored for r in a.related if r.target_id)
    total_refs = sum(len(a.related) for a in stored)
    sections = sorted({a.section for a in stored})
    click.echo(
        f"\nThe store ({settings.store_url}) holds {len(stored)} articles in "
        f"{len(sections)} sections; {resolved} of {total_refs} related references resolved.\n"
    )
    for article in stored:
        day = article.published_at.date().isoformat() if article.published_at else "undated"
        click.echo(f"  {day}  {article.section:<18.18}  {article.title}")
    click.echo("\nNext: `digest articles --json --limit 1` shows one article in full.")
    ctx.exit(0 if report.ok else 1)


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
