"""``/admin/archive``: past editions, and each one's web view. I/O.

The web view is the HTML subscribers got (the variant with every section), with the sample
reader's name and links that sign nothing, so nothing personal is in it. Editions still in
the future (planned early, awaiting their slot) are previewed, not archived.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from digest.web.admin import pages
from digest.web.admin.preview import preview_path
from digest.web.admin.rendering import SAMPLE, Viewer, render
from digest.web.site import PageError, Site, SiteDep
from digest.web.view import EMAIL_POLICY

router = APIRouter()


@router.get("/archive", response_class=HTMLResponse)
async def archive(request: Request, site: SiteDep) -> HTMLResponse:
    editions = await run_in_threadpool(_past, site)
    return pages.render(
        request, "archive.html", "Archive", {"editions": editions}, current="archive"
    )


@router.get("/archive/{edition_id}", response_class=HTMLResponse)
async def web_view(edition_id: str, site: SiteDep) -> HTMLResponse:
    html = await run_in_threadpool(_web_view, site, edition_id)
    return HTMLResponse(html, headers={"Content-Security-Policy": EMAIL_POLICY})


def _past(site: Site) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    ops = site.parts.operations(site.config)
    listed = [e for e in ops.list_editions() if not e["empty"]]
    past = [e for e in listed if datetime.fromisoformat(e["slot"]) <= now]
    for entry in past:
        declared = site.config.get_or_none(entry["newsletter"])
        slot = datetime.fromisoformat(entry["slot"])
        entry["slot_local"] = slot.astimezone(declared.zone) if declared else slot
        entry["preview"] = preview_path(entry["newsletter"], slot)
    return sorted(past, key=lambda e: e["slot"], reverse=True)


def _web_view(site: Site, edition_id: str) -> str:
    edition = site.parts.editions.get_by_id(edition_id)
    if edition is None or edition.empty or edition.slot > datetime.now(UTC):
        raise PageError(404, "No such edition", "It is not in the archive.")
    rendered = render(site, edition, Viewer(SAMPLE, None))
    if rendered.copy is None:
        raise PageError(404, "No such edition", "It has no articles.")
    return rendered.copy.html
