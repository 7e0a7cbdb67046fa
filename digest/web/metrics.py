"""``GET /metrics``: the Prometheus text exposition, for ops' scraper. I/O (a few counts).

What the store knows (editions planned, deliveries by status, each newsletter's last
successful run, slot outcomes including misses) is read at scrape time, so any copy of
the app reports the same figures. Counters of what a process did itself (provider calls
by status code, send latency, alerts, misfires) live in the process that sends: `digest
run --metrics-port` serves them. The page carries counts only, no personal data.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from digest.observe.metrics import CONTENT_TYPE, Metrics

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    collected: Metrics = request.app.state.metrics
    body = await run_in_threadpool(collected.render)
    return Response(body, media_type=CONTENT_TYPE)
