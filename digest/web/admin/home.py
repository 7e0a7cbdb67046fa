"""``/admin/``: the editors' start page. I/O. A placeholder listing the newsletters by name.

The editorial pages (next slot, last edition and counts per newsletter) replace it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from digest.web.admin import pages
from digest.web.site import SiteDep

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def newsletters(request: Request, site: SiteDep) -> HTMLResponse:
    listed = [{"name": n.name, "title": n.title} for n in site.config.newsletters]
    return pages.render(
        request, "newsletters.html", "Newsletters", {"newsletters": listed}, current="newsletters"
    )
