"""The demo corpus: articles of a fictional publication, written out as real source files.

``articles.toml`` holds the articles with their age in days rather than a date, so the demo
is always about "the last few weeks". ``write_corpus`` turns them into the two shapes the
publication produces: page exports (plain text, one file per article, with a Related
Articles block) and an RSS 2.0 feed, so that one demo run exercises both sources and the
resolution of related references across them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from digest.identity import slugify

DEMO_NEWSLETTERS = Path(__file__).with_name("newsletters.toml")
DEMO_NEWSLETTER = "daily"
DEMO_SUBSCRIBERS = Path(__file__).with_name("subscribers.csv")
FEED_EVERY = 3  # one article in three is published through the feed
FEED_HOUR = time(6, 30, tzinfo=UTC)
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"


@dataclass(frozen=True, slots=True)
class DemoArticle:
    key: str
    section: str
    title: str
    standfirst: str
    author: str | None
    published: date
    read_minutes: int | None
    body: list[str]
    related: list[str]


def load_articles(today: date) -> list[DemoArticle]:
    text = resources.files("digest.demo").joinpath("articles.toml").read_text("utf-8")
    return [_article(raw, today) for raw in tomllib.loads(text)["article"]]


def _article(raw: dict[str, Any], today: date) -> DemoArticle:
    return DemoArticle(
        key=raw["key"],
        section=raw["section"],
        title=raw["title"],
        standfirst=raw["standfirst"],
        author=raw.get("author"),
        published=today - timedelta(days=int(raw["days_ago"])),
        read_minutes=raw.get("read_minutes"),
        body=list(raw["body"]),
        related=list(raw.get("related", [])),
    )


def write_corpus(folder: Path, today: date, base_url: str) -> list[Path]:
    """Write the page exports and the feed into ``folder``; returns the files written."""
    articles = load_articles(today)
    by_key = {a.key: a for a in articles}
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    in_feed = [a for i, a in enumerate(articles) if i % FEED_EVERY == FEED_EVERY - 1]
    for article in articles:
        if article in in_feed:
            continue
        path = folder / f"{article.published.isoformat()}-{article.key}.txt"
        path.write_text(export_text(article, by_key), encoding="utf-8")
        written.append(path)
    feed_path = folder / "meridian-feed.xml"
    feed_path.write_bytes(feed_xml(in_feed, base_url))
    written.append(feed_path)
    return written


def _long_date(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def export_text(article: DemoArticle, by_key: dict[str, DemoArticle]) -> str:
    """An article in the page-export shape, pull quotes as their own short lines."""
    dateline = _long_date(article.published)
    if article.read_minutes is not None:
        dateline += f" - {article.read_minutes} min Read"
    lines = [article.section, article.title, article.standfirst]
    lines.append("X Linkedin Facebook Reddit Email Bluesky")
    if article.author:
        lines.append(f"Published by {article.author}")
    lines.append(dateline)
    for index, paragraph in enumerate(article.body):
        lines.append(paragraph.removeprefix("> "))
        if index == 1:
            lines += ["ADVERTISEMENT", "ADVERTISEMENT"]
    if article.related:
        lines.append("Related Articles")
        for key in article.related:
            target = by_key[key]
            lines += [target.section, target.standfirst, _long_date(target.published)]
    return "\n".join(lines) + "\n"


def feed_xml(articles: list[DemoArticle], base_url: str) -> bytes:
    """An RSS 2.0 feed of ``articles`` with full content, as the publication's CMS would."""
    ET.register_namespace("content", CONTENT_NS)
    ET.register_namespace("dc", DC_NS)
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = "The Meridian Review"
    ET.SubElement(channel, "link").text = base_url
    ET.SubElement(channel, "description").text = "Essays and reporting, weekly."
    for article in articles:
        channel.append(_feed_item(article, base_url))
    xml: bytes = ET.tostring(rss, encoding="utf-8", xml_declaration=True)
    return xml


def _feed_item(article: DemoArticle, base_url: str) -> ET.Element:
    item = ET.Element("item")
    ET.SubElement(item, "title").text = article.title
    link = f"{base_url}/{slugify(article.section)}/{article.key}"
    ET.SubElement(item, "link").text = link
    ET.SubElement(item, "guid", isPermaLink="false").text = f"meridian-{article.key}"
    ET.SubElement(item, "category").text = article.section
    if article.author:
        ET.SubElement(item, f"{{{DC_NS}}}creator").text = article.author
    published = datetime.combine(article.published, FEED_HOUR)
    ET.SubElement(item, "pubDate").text = format_datetime(published, usegmt=True)
    ET.SubElement(item, "description").text = article.standfirst
    ET.SubElement(item, f"{{{CONTENT_NS}}}encoded").text = _content_html(article.body)
    return item


def _content_html(paragraphs: list[str]) -> str:
    parts = []
    for paragraph in paragraphs:
        if paragraph.startswith("> "):
            parts.append(f"<blockquote><p>{escape(paragraph[2:])}</p></blockquote>")
        else:
            parts.append(f"<p>{escape(paragraph)}</p>")
    return "".join(parts)
