"""The edition preview: a slot's edition exactly as a subscriber will get it, why each
article is in or out, and the editors' actions on it. I/O.

Pages are keyed by newsletter and slot, not by edition id, so the next slot can be
previewed (as a draft with the editors' pins and drops) before the scheduler plans it,
and the same address shows the planned edition afterwards. The email itself is served on
its own address for the preview's iframe, under a policy that lets this app frame it and
lets it run nothing. Every action is a POST carrying the CSRF token (checked by the admin
router) and answers with a redirect back to the preview (post/redirect/get).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from digest.errors import DigestError, NotFoundError
from digest.render.variants import GMAIL_CLIP_BYTES
from digest.slots import next_slot
from digest.web.admin import pages
from digest.web.admin.actions import check_links, send_test
from digest.web.admin.auth import EditorDep
from digest.web.admin.rendering import (
    Rendered,
    audience_choices,
    lint_findings,
    render,
    slot_edition,
    viewer,
)
from digest.web.site import PageError, Site, SiteDep
from digest.web.view import EMAIL_POLICY

router = APIRouter()

SLOT_FORMAT = "%Y%m%dT%H%MZ"
WIDTHS = {"desktop": 600, "phone": 375}
FRAMED_EMAIL_POLICY = EMAIL_POLICY.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
Subscriber = Annotated[str | None, Query(max_length=12)]
"""A subscriber's id; empty (the "sample reader" choice of the view-as form) is nobody."""


def slot_text(slot: datetime) -> str:
    return slot.astimezone(UTC).strftime(SLOT_FORMAT)


def parse_slot(text: str) -> datetime:
    try:
        return datetime.strptime(text, SLOT_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise PageError(404, "No such slot", f"{text!r} is not a slot address.") from None


def preview_path(newsletter: str, slot: datetime, **query: object) -> str:
    shown = {key: value for key, value in query.items() if value is not None}
    suffix = f"?{urlencode(shown)}" if shown else ""
    return f"/admin/newsletters/{newsletter}/slots/{slot_text(slot)}{suffix}"


@router.get("/newsletters/{newsletter}/next")
def next_preview(newsletter: str, request: Request, site: SiteDep) -> RedirectResponse:
    """The newsletter's next slot: the edition editors are preparing."""
    declared = site.config.get_or_none(newsletter)
    if declared is None:
        raise PageError(404, "No such newsletter", f"There is no newsletter {newsletter!r}.")
    slot = next_slot(declared, datetime.now(UTC))
    return RedirectResponse(pages.url(request, preview_path(declared.name, slot)), 303)


@router.get("/newsletters/{newsletter}/slots/{slot}", response_class=HTMLResponse)
async def preview(
    newsletter: str,
    slot: str,
    request: Request,
    site: SiteDep,
    width: Annotated[str, Query(pattern="^(desktop|phone)$")] = "desktop",
    subscriber: Subscriber = None,
    notice: Annotated[str | None, Query(max_length=300)] = None,
) -> HTMLResponse:
    moment = parse_slot(slot)
    rendered = await run_in_threadpool(_rendered, site, newsletter, moment, subscriber)
    findings = None
    if rendered.copy is not None:
        findings = await run_in_threadpool(lint_findings, request, site, rendered.copy.html)
    context = await run_in_threadpool(_context, site, rendered, findings, width, notice)
    title = f"Preview: {rendered.edition.snapshot['newsletter']['title']}"
    return pages.render(request, "preview.html", title, context, current="newsletters")


@router.get("/newsletters/{newsletter}/slots/{slot}/email.html", response_class=HTMLResponse)
async def framed_email(
    newsletter: str, slot: str, site: SiteDep, subscriber: Subscriber = None
) -> HTMLResponse:
    """The email's HTML alone, for the preview's iframe (scripts can never run in it)."""
    rendered = await run_in_threadpool(_rendered, site, newsletter, parse_slot(slot), subscriber)
    if rendered.copy is None:
        raise PageError(404, "Nothing to show", "This reader gets nothing in this edition.")
    headers = {"Content-Security-Policy": FRAMED_EMAIL_POLICY, "X-Frame-Options": "SAMEORIGIN"}
    return HTMLResponse(rendered.copy.html, headers=headers)


@router.post("/newsletters/{newsletter}/slots/{slot}/articles")
async def article_action(
    newsletter: str,
    slot: str,
    request: Request,
    site: SiteDep,
    editor: EditorDep,
    article_id: Annotated[str, Form(max_length=64)],
    action: Annotated[str, Form(pattern="^(pin|drop|clear)$")],
) -> RedirectResponse:
    """Pin, drop or restore an article for this slot; a planned edition is re-planned."""
    moment = parse_slot(slot)
    ops = site.parts.operations(site.config)
    steer = {"pin": ops.pin, "drop": ops.drop, "clear": ops.clear}[action]
    notice = {"pin": "Pinned", "drop": "Dropped", "clear": "Restored"}[action]
    try:
        await run_in_threadpool(steer, newsletter, moment, article_id, editor)
    except DigestError as exc:
        notice = f"Not changed: {exc}"
    else:
        notice = f"{notice}; the preview shows the edition as it is now."
    return _back(request, newsletter, moment, notice)


@router.post("/newsletters/{newsletter}/slots/{slot}/approve")
async def approve(
    newsletter: str, slot: str, request: Request, site: SiteDep, editor: EditorDep
) -> RedirectResponse:
    moment = parse_slot(slot)
    ops = site.parts.operations(site.config)
    await run_in_threadpool(ops.approve, newsletter, editor, moment)
    return _back(request, newsletter, moment, f"Approved by {editor}.")


@router.post("/newsletters/{newsletter}/slots/{slot}/test")
async def send_test_copy(
    newsletter: str,
    slot: str,
    request: Request,
    site: SiteDep,
    editor: EditorDep,
    address: Annotated[str, Form(max_length=254)],
    subscriber: Annotated[int | None, Form(ge=1)] = None,
) -> RedirectResponse:
    """Send this preview (as the chosen reader) to one address, marked as a test."""
    moment = parse_slot(slot)
    rendered = await run_in_threadpool(_rendered, site, newsletter, moment, subscriber)
    notice = await send_test(site, rendered, address, editor)
    return _back(request, newsletter, moment, notice, subscriber=subscriber)


@router.post("/newsletters/{newsletter}/slots/{slot}/links", response_class=HTMLResponse)
async def links(newsletter: str, slot: str, request: Request, site: SiteDep) -> HTMLResponse:
    """Each link of the edition with the HTTP status it answers now (fetched on request)."""
    moment = parse_slot(slot)
    edition = await run_in_threadpool(slot_edition, site, newsletter, moment)
    checked = await run_in_threadpool(check_links, site, edition.snapshot)
    context = {
        "newsletter": edition.snapshot["newsletter"],
        "back": preview_path(newsletter, moment),
        "links": checked,
    }
    return pages.render(request, "links.html", "Links checked", context, current="newsletters")


def _subscriber(value: str | int | None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) or value.isdigit():
        return int(value)
    raise PageError(404, "Not found", f"{value!r} is not a subscriber's id.")


def _rendered(
    site: Site, newsletter: str, slot: datetime, subscriber: str | int | None
) -> Rendered:
    chosen = _subscriber(subscriber)
    try:
        edition = slot_edition(site, newsletter, slot)
        return render(site, edition, viewer(site, newsletter, chosen))
    except NotFoundError as exc:
        raise PageError(404, "Not found", str(exc)) from exc
    except DigestError as exc:
        raise PageError(409, "This slot cannot be previewed", str(exc)) from exc


def _context(
    site: Site,
    rendered: Rendered,
    findings: dict[str, Any] | None,
    width: str,
    notice: str | None,
) -> dict[str, Any]:
    edition = rendered.edition
    snapshot = edition.snapshot
    name = edition.newsletter
    ops = site.parts.operations(site.config)
    counts = None if snapshot.get("draft") else ops.ledger.counts(edition.id).as_json()
    subscriber = rendered.viewer.subscriber_id
    here = preview_path(name, edition.slot)
    return {
        "edition": edition,
        "draft": bool(snapshot.get("draft")),
        "replanned": snapshot.get("replanned"),
        "newsletter": snapshot["newsletter"],
        "slot_local": edition.slot.astimezone(site.config.get(name).zone),
        "rendered": rendered,
        "copy": rendered.copy,
        "findings": findings,
        "width": width,
        "pixels": WIDTHS[width],
        "widths": {
            key: preview_path(name, edition.slot, width=key, subscriber=subscriber)
            for key in WIDTHS
        },
        "frame": f"{here}/email.html" + (f"?subscriber={subscriber}" if subscriber else ""),
        "here": here,
        "subscriber": subscriber,
        "choices": audience_choices(site, name),
        "candidates": _candidates(snapshot),
        "approval": ops.approval(name, edition.slot),
        "counts": counts,
        "notice": notice,
        "clip_bytes": GMAIL_CLIP_BYTES,
    }


def _candidates(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """Every candidate of the slot, the included first, each with its reason."""
    included = [
        {**article, "included": True}
        for section in snapshot.get("sections", [])
        for article in section["articles"]
    ]
    excluded = [{**item, "included": False} for item in snapshot.get("excluded", [])]
    return included + excluded


def _back(
    request: Request,
    newsletter: str,
    slot: datetime,
    notice: str,
    subscriber: int | None = None,
) -> RedirectResponse:
    path = preview_path(newsletter, slot, subscriber=subscriber, notice=notice)
    return RedirectResponse(pages.url(request, path), 303)
