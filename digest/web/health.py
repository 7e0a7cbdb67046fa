"""``GET /healthz``: for a load balancer or a process supervisor. I/O (one trivial query).

200 ``{"status": "ok"}`` when the store answers; 503 when it does not, so a proxy stops
sending visitors to a copy that cannot serve them.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from digest.web.site import Site, SiteDep

router = APIRouter()


@router.get("/healthz")
async def healthz(site: SiteDep) -> JSONResponse:
    try:
        await run_in_threadpool(_ping, site)
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "store": "not answering"}, 503)
    return JSONResponse({"status": "ok"})


def _ping(site: Site) -> None:
    with site.parts.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
