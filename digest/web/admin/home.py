"""``/admin/``: every newsletter with its next slot, its last edition and that edition's
counts, and a way into the preview of the next slot. I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from digest.web.admin import pages
from digest.web.admin.preview import preview_path
from digest.web.site import Site, SiteDep

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def newsletters(request: Request, site: SiteDep) -> HTMLResponse:
    listed = await run_in_threadpool(_newsletters, site)
    return pages.render(
        request, "newsletters.html", "Newsletters", {"newsletters": listed}, current="newsletters"
    )


def _newsletters(site: Site) -> list[dict[str, Any]]:
    entries = site.parts.operations(site.config).newsletters()
    for entry in entries:
        zone = site.config.get(entry["name"]).zone
        entry["next_local"] = [
            datetime.fromisoformat(slot).astimezone(zone) for slot in entry["next_slots"]
        ]
        entry["next_preview"] = f"/admin/newsletters/{entry['name']}/next"
        last = entry["last_edition"]
        if last is not None:
            slot = datetime.fromisoformat(last["slot"])
            last["preview"] = preview_path(entry["name"], slot)
            last["slot_local"] = slot.astimezone(zone)
    return entries
