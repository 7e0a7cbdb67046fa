"""Frozen edition snapshots for rendering tests, written out in full so the output is fixed."""

from __future__ import annotations

from typing import Any

from digest.render.links import UnsignedLinks
from digest.render.personal import Recipient, personal_values

SECTION_NAMES = ["Political history", "Science", "Technology", "Economy", "Culture"]
SUMMARY = (
    "A summary of two sentences that says what the piece is about and why it matters. "
    "It runs to about forty words, which is what the summariser aims for on most articles "
    "in the corpus."
)


def article(section: str, number: int, **overrides: Any) -> dict[str, Any]:
    slug = f"{section.lower().replace(' ', '-')}-{number}"
    values: dict[str, Any] = {
        "id": slug,
        "url": f"https://news.example.com/{slug}",
        "section": section,
        "title": f"{section} story number {number}: a headline of ordinary length",
        "summary": SUMMARY,
        "standfirst": SUMMARY,
        "author": "Ines Okafor",
        "published_at": "2026-11-26T08:00:00+00:00",
        "read_minutes": 4,
        "image_url": None,
        "archive": number == 5,
        "reason": "published 2026-11-26T08:00+00:00, inside the window; ranked 1 by date",
        "reason_code": "archive" if number == 5 else "new",
        "related": [
            {
                "id": f"rel{n}",
                "title": f"Related piece {n} on {section.lower()}",
                "url": f"https://news.example.com/{slug}/related-{n}",
                "kind": "similar",
            }
            for n in range(1, 4)
        ],
    }
    values.update(overrides)
    return values


def snapshot(sections: int = 5, per_section: int = 5, **newsletter: Any) -> dict[str, Any]:
    """A full edition: ``sections`` sections of ``per_section`` articles with related links."""
    return {
        "version": 1,
        "edition_id": "0123456789abcdef",
        "issue_number": 42,
        "publication": {
            "name": "The Meridian Review",
            "postal_address": "1 Harbour Street, Portsmouth PO1 2AB, United Kingdom",
        },
        "newsletter": {
            "name": "daily",
            "title": "The Meridian Daily",
            "sender_name": "The Meridian Review",
            "sender_address": "digest@meridian.example",
            "reply_to": "editors@meridian.example",
            "timezone": "Europe/Paris",
            "template": "digest",
            "subject": "{{ newsletter.title }} #{{ issue_number }}: {{ top_story.title }}",
            "preheader": "{{ article_count }} articles, {{ date }}",
            "utm": None,
            **newsletter,
        },
        "slot": "2026-11-27T06:00:00+00:00",
        "window": {"start": "2026-11-26T06:00:00+00:00", "end": "2026-11-27T06:00:00+00:00"},
        "empty": False,
        "sections": [
            {"name": name, "articles": [article(name, n) for n in range(1, per_section + 1)]}
            for name in SECTION_NAMES[:sections]
        ],
        "excluded": [],
        "planned_at": "2026-11-27T05:00:00+00:00",
    }


LINKS = UnsignedLinks("https://digest.meridian.example", "meridian.example")
READER = Recipient("42", "ana@example.org", "Ana")
LONGEST = Recipient("9" * 36, "x" * 64 + "@" + "y" * 60 + ".example", "W" * 100)


def values_for(recipient: Recipient, edition_id: str = "0123456789abcdef") -> dict[str, str]:
    return personal_values(recipient, LINKS.personal_links(recipient, "daily", edition_id))
