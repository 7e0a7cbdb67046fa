"""The ops HTTP API under ``/api/``: see and steer newsletters and editions. I/O.

Every route answers what ``digest.ops.Operations`` answers, so ``GET /api/editions`` and
``digest editions --json`` say the same thing in the same shape. The sending itself stays
with the dispatcher of ``digest run``, or with the workers when the queue is on
(``DIGEST_QUEUE=procrastinate``): ``send`` only makes the edition's deliveries due.
``GET /api/queue`` shows that queue (``digest.queue.status``), as ``digest queue`` does.

The routes sit in the page app (``create_app`` includes this router) but answer every
error in JSON, ``{"detail": ...}``, through their own route class: the page app turns
errors into HTML pages, which an ops client cannot read. The page app serves no OpenAPI
schema, so this router serves its own, of the API alone, at ``/api/openapi.json``.

Every route, the schema's too, needs ``Authorization: Bearer <DIGEST_API_TOKEN>``; without
the setting the API refuses everyone, so an install that never chose a token has no open
door. Routes are plain ``def``: the store calls block, so FastAPI runs them in its thread
pool.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from digest.errors import ConfigError, NotFoundError, PlanningError, RefusedError, StoreError
from digest.newsletter_model import NewsletterConfig
from digest.ops import Operations
from digest.queue.status import MINUTES, QueueView
from digest.web.site import SiteDep

log = logging.getLogger(__name__)

DESCRIPTION = (
    "See and steer the newsletters' editions: what ops do with `digest editions`, "
    "`digest pause|resume` and `digest send --now`; see the send queue (`digest queue`). "
    "Every route needs "
    "'Authorization: Bearer <DIGEST_API_TOKEN>'."
)
EDITION_ID = re.compile(r"[0-9a-f]{16}")
"""The shape of every edition id (``digest.snapshot.edition_id``); others are not looked up."""
SEND_NOTE = (
    "Every pending delivery of this edition is due now; {who} them. "
    "Watch GET /api/editions/{{id}} for the counts."
)
STORE_FAILED = "the store cannot be used now; the server's log says why"
STATUS_OF: dict[type[Exception], int] = {
    NotFoundError: status.HTTP_404_NOT_FOUND,
    RefusedError: status.HTTP_409_CONFLICT,
    PlanningError: status.HTTP_409_CONFLICT,
    ConfigError: status.HTTP_503_SERVICE_UNAVAILABLE,
    StoreError: status.HTTP_503_SERVICE_UNAVAILABLE,
    OperationalError: status.HTTP_503_SERVICE_UNAVAILABLE,
}
"""How the errors ops can cause or meet are answered; anything else is a 500 (a bug)."""


# -- the shapes of answers ----------------------------------------------------------------

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class ErrorBody(BaseModel):
    detail: str = Field(description="What went wrong and what to do about it.")


class Counts(BaseModel):
    total: int
    pending: int
    sending: int
    sent: int
    failed: int
    skipped: int
    uncertain: int = Field(description="Rows whose outcome at the provider is unknown.")


class Edition(BaseModel):
    id: str
    newsletter: str
    issue_number: int | None = Field(description="None for an empty edition: it is not sent.")
    slot: Timestamp
    planned_at: Timestamp
    empty: bool = Field(description="Nothing to send: no section had articles.")
    paused: bool
    pause_reason: str | None
    counts: Counts


class Failure(BaseModel):
    email: str
    error: str = Field(description="The provider's message.")


class SectionSize(BaseModel):
    name: str
    articles: int


class EditionDetail(Edition):
    failures: list[Failure]
    sections: list[SectionSize]


class SlotRun(BaseModel):
    slot: Timestamp
    outcome: str = Field(description="planned, empty, missed, skipped or failed.")
    edition_id: str | None
    detail: str | None
    recorded_at: Timestamp


class Newsletter(BaseModel):
    name: str
    title: str
    cadence: str = Field(description="Cron expression in the newsletter's time zone.")
    timezone: str
    grace_minutes: int
    paused: bool
    pause_reason: str | None
    next_slots: list[Timestamp]
    last_run: SlotRun | None
    last_edition: Edition | None


class Sending(BaseModel):
    edition: EditionDetail
    note: str


class EditionPause(BaseModel):
    edition: str
    paused: bool
    reason: str | None = None


class NewsletterPause(BaseModel):
    newsletter: str
    paused: bool
    reason: str | None = None


class QueueJobs(BaseModel):
    due: int = Field(description="Waiting and due now: the next free worker takes them.")
    scheduled: int = Field(
        description="Waiting for later: a subscriber's hour, a retry, a paused edition's look."
    )
    running: int
    failed: int = Field(description="Given up after repeated errors; their rows stay pending.")


class QueuedJob(BaseModel):
    id: int
    edition_id: str | None
    first_id: int | None = Field(description="The first ledger row of the job's batch.")
    last_id: int | None
    attempts: int
    worker_id: int | None
    at: Timestamp | None = Field(description="When it started (running) or failed (failed).")


class QueueWorker(BaseModel):
    id: int
    last_heartbeat: Timestamp
    seconds_since_heartbeat: float
    live: bool
    running: int = Field(description="Jobs it holds now.")


class WorkerThroughput(BaseModel):
    worker: str = Field(description="host:pid:tag, as in the worker's log.")
    batches: int
    recipients: int
    batches_per_minute: float
    recipients_per_minute: float
    last_minute: Timestamp


class QueueStatus(BaseModel):
    enabled: bool = Field(description="False on SQLite or with DIGEST_QUEUE=none.")
    note: str | None = Field(description="Why the queue is off.")
    minutes: int = Field(description="The throughput's window, in minutes.")
    jobs: QueueJobs
    running: list[QueuedJob]
    failed: list[QueuedJob] = Field(
        description="Newest first. procrastinate keeps no error text: the worker's log has it."
    )
    workers: list[QueueWorker]
    live_workers: int
    throughput: list[WorkerThroughput]


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=1,
        max_length=500,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Why, shown by `digest editions` and GET /api/editions (one line).",
    )


# -- the router ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OpsApi:
    """What the routes share: the operations, the newsletters, and the expected token."""

    ops: Operations
    config: NewsletterConfig
    token: str | None
    queue: QueueView


def get_api(site: SiteDep) -> OpsApi:
    """The operations over the page app's parts and newsletters (cheap to build each time)."""
    ops = site.parts.operations(site.config)
    return OpsApi(ops, site.config, site.parts.settings.api_token, site.parts.queue_view())


ApiDep = Annotated[OpsApi, Depends(get_api)]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="DIGEST_API_TOKEN",
    description="The ops token: the DIGEST_API_TOKEN setting of the server.",
)


def require_token(
    api: ApiDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """401 unless the bearer token is the configured one (compared in constant time)."""
    if api.token is None:
        raise _unauthorized(
            "the ops API is off: set DIGEST_API_TOKEN (16 characters or more) on the server, "
            "then send it as 'Authorization: Bearer <token>'"
        )
    given = credentials.credentials.encode() if credentials else b""
    if not hmac.compare_digest(given, api.token.encode()):
        raise _unauthorized("send the ops token as 'Authorization: Bearer <DIGEST_API_TOKEN>'")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


class ApiRoute(APIRoute):
    """A route that answers its errors in JSON, whatever the app does with errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # every error, so that none reaches the HTML pages
                return _error_answer(request, exc)

        return answer


def _error_answer(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, HTTPException):
        return JSONResponse({"detail": exc.detail}, exc.status_code, exc.headers)
    if isinstance(exc, RequestValidationError):
        return JSONResponse({"detail": jsonable_encoder(exc.errors())}, 422)
    code = next((code for kind, code in STATUS_OF.items() if isinstance(exc, kind)), None)
    if code is None:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; the server's log has the details"}, 500)
    if isinstance(exc, OperationalError):  # its text may hold SQL and values: log it only
        log.error("the store failed on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": STORE_FAILED}, code)
    return JSONResponse({"detail": str(exc)}, code)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route: always 401 and 503, and ``codes``."""
    said = {
        400: "The body is not JSON.",
        401: "No token, a wrong one, or DIGEST_API_TOKEN unset on the server.",
        404: "No such newsletter or edition.",
        409: "Refused in the current state (a paused newsletter, a slot out of order).",
        503: "The store or the newsletters file cannot be used now.",
    }
    wanted = sorted({401, 503, *codes})
    return {code: {"model": ErrorBody, "description": said[code]} for code in wanted}


router = APIRouter(prefix="/api", route_class=ApiRoute, dependencies=[Depends(require_token)])


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, api: ApiDep) -> dict[str, Any]:
    """The API's OpenAPI schema (the page app has none): its routes, its token, its errors."""
    root = request.scope.get("root_path", "").rstrip("/")
    return get_openapi(
        title=f"{api.config.publication.name}: ops API",
        version="1",
        description=DESCRIPTION,
        routes=router.routes,
        servers=[{"url": root}] if root else None,
    )


# -- seeing -------------------------------------------------------------------------------


@router.get("/newsletters", response_model=list[Newsletter], responses=_errors())
def newsletters(api: ApiDep) -> Any:
    """Each newsletter: next slots, last run, pause state, latest edition with its counts."""
    return api.ops.newsletters()


@router.get("/editions", response_model=list[Edition], responses=_errors(404))
def editions(api: ApiDep, newsletter: str | None = None) -> Any:
    """Every edition (of one newsletter, or all), oldest first, with its counts."""
    return api.ops.list_editions(newsletter)


@router.get("/editions/{edition_id}", response_model=EditionDetail, responses=_errors(404))
def edition(api: ApiDep, edition_id: str) -> Any:
    """One edition: counts, pause state, failed deliveries with the provider's words."""
    return api.ops.show_edition(_edition_id(api, edition_id))


@router.get("/queue", response_model=QueueStatus, responses=_errors())
def queue(api: ApiDep, minutes: Annotated[int, Query(ge=1, le=1440)] = MINUTES) -> Any:
    """The send queue: jobs due, scheduled, running and failed, live workers, and each
    worker's batches and recipients per minute over the last ``minutes``."""
    return api.queue.status(minutes).as_json()


# -- steering -----------------------------------------------------------------------------


@router.post("/newsletters/{name}/plan", response_model=EditionDetail, responses=_errors(404, 409))
def plan(api: ApiDep, name: str) -> Any:
    """Plan the current slot and enrol its audience; once per slot, so safe to repeat."""
    return api.ops.show_edition(api.ops.plan(name).id)


@router.post(
    "/newsletters/{name}/send",
    response_model=Sending,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_errors(404, 409),
)
def send(api: ApiDep, name: str) -> Any:
    """Plan the current slot and make all its pending deliveries due now (202: queued)."""
    edition_id = api.ops.send_now(name).id
    note = SEND_NOTE.format(who=api.ops.who_sends())
    return {"edition": api.ops.show_edition(edition_id), "note": note}


@router.post(
    "/newsletters/{name}/pause", response_model=NewsletterPause, responses=_errors(400, 404)
)
def pause_newsletter(api: ApiDep, name: str, body: PauseRequest | None = None) -> Any:
    """New slots are skipped and its editions' pending deliveries wait until resumed."""
    return _pause(api, _newsletter(api, name), body)


@router.post("/newsletters/{name}/resume", response_model=NewsletterPause, responses=_errors(404))
def resume_newsletter(api: ApiDep, name: str) -> Any:
    """Plan and send again; nothing already sent is sent twice."""
    return api.ops.resume(_newsletter(api, name))


@router.post(
    "/editions/{edition_id}/pause", response_model=EditionPause, responses=_errors(400, 404)
)
def pause_edition(api: ApiDep, edition_id: str, body: PauseRequest | None = None) -> Any:
    """This edition's pending deliveries wait until resumed; others go on."""
    return _pause(api, _edition_id(api, edition_id), body)


@router.post("/editions/{edition_id}/resume", response_model=EditionPause, responses=_errors(404))
def resume_edition(api: ApiDep, edition_id: str) -> Any:
    """Carry on with the rows still pending; nothing already sent is sent twice."""
    return api.ops.resume(_edition_id(api, edition_id))


def _pause(api: OpsApi, target: str, body: PauseRequest | None) -> dict[str, Any]:
    """Pause with the reason given, or with the operations' own default reason."""
    return api.ops.pause(target, body.reason) if body else api.ops.pause(target)


def _newsletter(api: OpsApi, name: str) -> str:
    """``name`` if it is a declared newsletter: pause/resume also take edition ids."""
    if api.config.get_or_none(name) is None:
        raise NotFoundError(f"no newsletter {name!r}; declared: {', '.join(api.config.names)}")
    return name


def _edition_id(api: OpsApi, edition_id: str) -> str:
    """``edition_id`` if it has an edition id's shape and names no newsletter.

    Anything else is a 404 before the store is asked: pause/resume would otherwise take a
    newsletter's name here, and PostgreSQL refuses text with a NUL byte (a 500).
    """
    if not EDITION_ID.fullmatch(edition_id) or api.config.get_or_none(edition_id):
        raise NotFoundError(f"no edition {edition_id!r}; GET /api/editions lists them")
    return edition_id
