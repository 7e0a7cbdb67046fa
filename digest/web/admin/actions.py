"""What the preview's buttons do beyond the store: send a test copy, check the links. I/O.

A test goes through the configured provider (the outbox by default), as one message to
one address, with "[Test]" before the subject; it touches no ledger row, so it never
counts as, or stands in for, a subscriber's delivery. Links are fetched with the same
guarded client ingestion uses (timeouts, size cap, public addresses only unless
``DIGEST_ALLOW_PRIVATE_URLS``), one after another, only when an editor asks.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from digest.deliver.base import Batch, Envelope, Outcome
from digest.deliver.providers import http_client, make_provider
from digest.errors import DigestError, FetchError
from digest.render.copies import edition_headers, sender_domain
from digest.render.links import UnsignedLinks
from digest.render.message import make_message_id
from digest.render.personal import personal_values
from digest.sources.fetch import fetch, make_client
from digest.web.admin.rendering import Rendered
from digest.web.site import Site

MAX_LINKS = 60
"""Links checked per request at most: an edition has a few dozen."""


async def send_test(site: Site, rendered: Rendered, address: str, editor: str) -> str:
    """Send the rendered preview to ``address``; the notice to show the editor."""
    try:
        to = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        return f"No test sent: {address!r} is not an email address ({exc})."
    if rendered.copy is None:
        return "No test sent: this reader gets nothing in this edition."
    batch = _test_batch(site, rendered, to)
    settings = site.parts.settings
    client = http_client(settings)
    stream = site.config.get(rendered.edition.newsletter).message_stream
    try:
        provider = make_provider(settings, client, message_stream=stream)
        try:
            (result,) = await provider.send(batch)
        finally:
            await provider.close()
    except DigestError as exc:
        return f"No test sent: {exc}"
    finally:
        await client.aclose()
    if result.outcome is not Outcome.SENT:
        return f"The test to {to} was not sent: {result.error or 'the provider refused it'}"
    where = f" (in {settings.outbox})" if settings.provider == "outbox" else ""
    return f"Test sent to {to} through {settings.provider}{where}, by {editor}."


def _test_batch(site: Site, rendered: Rendered, to: str) -> Batch:
    assert rendered.copy is not None
    snapshot = rendered.edition.snapshot
    domain = sender_domain(snapshot["newsletter"]["sender_address"])
    recipient = rendered.viewer.recipient
    links = UnsignedLinks(site.parts.settings.public_url, domain).personal_links(
        recipient, snapshot["newsletter"]["name"], rendered.edition.id
    )
    key = f"test-{uuid.uuid4().hex}"
    variant = rendered.copy.variant
    envelope = Envelope(
        delivery_id=0,
        to_address=to,
        to_name=recipient.name,
        message_id=make_message_id(rendered.edition.id, key, domain),
        values=personal_values(recipient, links),
        unsubscribe_url=links.unsubscribe_url,
        unsubscribe_mailto=links.unsubscribe_mailto,
        idempotency_key=key,
    )
    headers = edition_headers(snapshot, f"[Test] {variant.subject}")
    return Batch(key, headers, variant, [envelope], datetime.now(UTC))


def check_links(site: Site, snapshot: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every article and related link of the edition, once, with what fetching it gave."""
    policy = site.parts.fetch_policy()
    results = []
    with make_client(policy) as client:
        for url, where in list(_links(snapshot).items())[:MAX_LINKS]:
            try:
                fetched = fetch(client, url, policy)
            except FetchError as exc:
                results.append({"url": url, "where": where, "ok": False, "status": exc.reason})
                continue
            moved = fetched.final_url != url
            final = f" (redirected to {fetched.final_url})" if moved else ""
            results.append({"url": url, "where": where, "ok": True, "status": f"OK{final}"})
    return results


def _links(snapshot: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for section in snapshot.get("sections", []):
        for article in section["articles"]:
            found.setdefault(article["url"], f"{section['name']}: {article['title']}")
            for related in article.get("related", []):
                found.setdefault(related["url"], f"related to {article['title']}")
    return found
