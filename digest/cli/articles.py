"""``digest articles``: what the store holds, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from digest.cli.app import cli, print_json, settings_of
from digest.model import StoredArticle
from digest.wiring import build


def _parse_since(ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date such as 2025-07-19") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=settings_of(ctx).zone)
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
    with build(settings_of(ctx)) as parts:
        found = parts.articles.list_articles(section=section, since=since, limit=limit)
    if as_json:
        print_json([article_json(a) for a in found])
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
