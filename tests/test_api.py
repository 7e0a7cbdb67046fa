"""The ops API through the real app: httpx against the ASGI app, a real SQLite store.

The store holds the demo: its corpus ingested and its thirty subscribers imported into the
demo newsletter ``daily``. Each test calls the API as an operator's script would, then
checks the answer against the ledger and the store (what changed, and for refused
requests that nothing did). Schemathesis then throws generated requests at every
operation the schema declares and finds no server error.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy
from prometheus_client.parser import text_string_to_metric_families
from schemathesis import Case, GenerationMode, checks
from sqlalchemy import update
from webapp import AppClient, WebApp, app_client, running_site

from digest.demo import DEMO_NEWSLETTER, DEMO_NEWSLETTERS, DEMO_SUBSCRIBERS, write_corpus
from digest.store.ledger import Counts, Ledger
from digest.store.ledger_schema import deliveries
from digest.web.api import STORE_FAILED
from digest.wiring import http_client
from subscribers.imports import import_csv

PUBLIC_URL = "https://news.example.com"
TOKEN = "ops-token-of-the-api-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UNKNOWN_EDITION = "0123456789abcdef"
ROUTES = [
    ("GET", "/api/newsletters"),
    ("GET", "/api/editions"),
    ("GET", "/api/editions/{edition_id}"),
    ("POST", "/api/newsletters/{name}/plan"),
    ("POST", "/api/newsletters/{name}/send"),
    ("POST", "/api/newsletters/{name}/pause"),
    ("POST", "/api/newsletters/{name}/resume"),
    ("POST", "/api/editions/{edition_id}/pause"),
    ("POST", "/api/editions/{edition_id}/resume"),
    ("GET", "/api/queue"),
]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[WebApp]:
    """The app over the demo newsletters, corpus and subscribers."""
    with running_site(
        tmp_path, PUBLIC_URL, newsletters_file=DEMO_NEWSLETTERS, api_token=TOKEN
    ) as site:
        parts = site.parts
        corpus = write_corpus(tmp_path / "corpus", date.today(), parts.settings.base_url)
        with http_client(parts) as client:
            assert parts.ingestor(client).run([str(corpus[0].parent)]).ok
        sections = parts.newsletters().get(DEMO_NEWSLETTER).section_names
        imported = import_csv(parts.subscribers, DEMO_SUBSCRIBERS, DEMO_NEWSLETTER, sections)
        assert imported.added == 30
        yield site


@pytest.fixture
def client(site: WebApp) -> Iterator[AppClient]:
    with app_client(site.app) as client:
        yield client


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebApp, AppClient]]:
    """One app for the many refused requests, which must leave it as it was anyway."""
    tmp_path = tmp_path_factory.mktemp("guarded")
    with (
        running_site(
            tmp_path, PUBLIC_URL, newsletters_file=DEMO_NEWSLETTERS, api_token=TOKEN
        ) as site,
        app_client(site.app) as client,
    ):
        yield site, client


def url_of(template: str, edition_id: str = UNKNOWN_EDITION) -> str:
    return template.format(name=DEMO_NEWSLETTER, edition_id=edition_id)


def planned(client: AppClient) -> dict[str, Any]:
    response = client.post(f"/api/newsletters/{DEMO_NEWSLETTER}/plan", headers=AUTH)
    assert response.status_code == 200, response.text
    edition: dict[str, Any] = response.json()
    return edition


def ledger_counts(site: WebApp, edition_id: str) -> Counts:
    return Ledger(site.parts.engine).counts(edition_id)


def edition_of(client: AppClient, edition_id: str) -> dict[str, Any]:
    response = client.get(f"/api/editions/{edition_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def newsletter_of(client: AppClient) -> dict[str, Any]:
    response = client.get("/api/newsletters", headers=AUTH)
    assert response.status_code == 200, response.text
    (daily,) = response.json()
    assert daily["name"] == DEMO_NEWSLETTER
    found: dict[str, Any] = daily
    return found


# -- the token -----------------------------------------------------------------------------


def test_the_routes_listed_here_are_every_operation_of_the_schema(
    guarded: tuple[WebApp, AppClient],
) -> None:
    _, client = guarded
    schema = client.get("/api/openapi.json", headers=AUTH).json()
    declared = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
    }
    assert declared == set(ROUTES)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-the-ops-token-at-all"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer t\u00e9l\u00e9phone".encode("latin-1")},  # not ASCII
    ],
    ids=["none", "wrong", "longer", "basic", "latin-1"],
)
@pytest.mark.parametrize(("method", "template"), ROUTES)
def test_every_route_refuses_a_request_without_the_token(
    guarded: tuple[WebApp, AppClient], method: str, template: str, headers: dict[str, str | bytes]
) -> None:
    site, client = guarded
    response = client.request(method, url_of(template), headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer" in response.json()["detail"]
    assert site.parts.editions.latest(DEMO_NEWSLETTER) is None  # nothing planned
    assert newsletter_of(client)["paused"] is False


def test_without_a_configured_token_the_api_refuses_everyone(tmp_path: Path) -> None:
    with (
        running_site(tmp_path, PUBLIC_URL, newsletters_file=DEMO_NEWSLETTERS) as site,
        app_client(site.app) as client,
    ):
        assert site.parts.settings.api_token is None
        for method, template in ROUTES:
            response = client.request(method, url_of(template), headers=AUTH)
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert "set DIGEST_API_TOKEN" in response.json()["detail"]


def test_the_schema_declares_the_bearer_token_and_the_error_answers(
    guarded: tuple[WebApp, AppClient],
) -> None:
    _, client = guarded
    assert client.get("/api/openapi.json").status_code == 401
    schema = client.get("/api/openapi.json", headers=AUTH).json()
    (scheme,) = schema["components"]["securitySchemes"].values()
    assert scheme == {"type": "http", "scheme": "bearer", "description": scheme["description"]}
    for operations in schema["paths"].values():
        for operation in operations.values():
            assert operation["security"], operation["operationId"]
            error = operation["responses"]["401"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorBody"}


# -- seeing and steering -------------------------------------------------------------------


def test_a_planned_edition_is_listed_with_the_ledgers_counts(
    site: WebApp, client: AppClient
) -> None:
    edition = planned(client)
    counts = ledger_counts(site, edition["id"])
    assert (edition["issue_number"], edition["empty"]) == (1, False)
    assert counts.total == 30
    assert edition["counts"] == counts.as_json()

    for query in ("", f"?newsletter={DEMO_NEWSLETTER}"):
        response = client.get(f"/api/editions{query}", headers=AUTH)
        assert response.status_code == 200
        (listed,) = response.json()
        assert (listed["id"], listed["counts"]) == (edition["id"], counts.as_json())
    assert edition_of(client, edition["id"])["counts"] == counts.as_json()
    assert newsletter_of(client)["last_edition"]["id"] == edition["id"]
    assert planned(client)["id"] == edition["id"]  # once per slot
    assert ledger_counts(site, edition["id"]).total == 30  # and enrolled once


def test_an_edition_pauses_and_resumes(client: AppClient) -> None:
    edition_id = planned(client)["id"]
    pause = {"reason": "checking a broken link"}

    response = client.post(f"/api/editions/{edition_id}/pause", headers=AUTH, json=pause)
    assert response.status_code == 200
    assert response.json() == {"edition": edition_id, "paused": True, **pause}
    shown = edition_of(client, edition_id)
    assert (shown["paused"], shown["pause_reason"]) == (True, pause["reason"])
    assert newsletter_of(client)["paused"] is False  # the newsletter goes on

    response = client.post(f"/api/editions/{edition_id}/resume", headers=AUTH)
    assert response.json() == {"edition": edition_id, "paused": False, "reason": None}
    shown = edition_of(client, edition_id)
    assert (shown["paused"], shown["pause_reason"]) == (False, None)


def test_a_newsletter_pauses_refuses_to_send_and_resumes(site: WebApp, client: AppClient) -> None:
    response = client.post(f"/api/newsletters/{DEMO_NEWSLETTER}/pause", headers=AUTH)
    assert response.status_code == 200
    daily = newsletter_of(client)
    assert daily["paused"] is True
    assert daily["pause_reason"]

    response = client.post(f"/api/newsletters/{DEMO_NEWSLETTER}/send", headers=AUTH)
    assert response.status_code == 409
    assert f"digest resume {DEMO_NEWSLETTER}" in response.json()["detail"]
    assert site.parts.editions.latest(DEMO_NEWSLETTER) is None

    response = client.post(f"/api/newsletters/{DEMO_NEWSLETTER}/resume", headers=AUTH)
    assert response.json() == {"newsletter": DEMO_NEWSLETTER, "paused": False, "reason": None}
    assert newsletter_of(client)["paused"] is False


def test_send_makes_every_pending_delivery_due_and_leaves_sending_to_the_dispatcher(
    site: WebApp, client: AppClient
) -> None:
    edition_id = planned(client)["id"]
    tomorrow = datetime.now(UTC) + timedelta(days=1)  # as if every reader chose a later hour
    with site.parts.engine.begin() as conn:
        conn.execute(
            update(deliveries).where(deliveries.c.edition_id == edition_id).values(due_at=tomorrow)
        )
    before = ledger_counts(site, edition_id)
    assert (before.pending, before.due) == (30, 0)

    response = client.post(f"/api/newsletters/{DEMO_NEWSLETTER}/send", headers=AUTH)

    assert response.status_code == 202
    answer = response.json()
    assert answer["edition"]["id"] == edition_id
    assert "digest run" in answer["note"]
    after = ledger_counts(site, edition_id)
    assert (after.pending, after.due, after.sent) == (30, 30, 0)
    assert answer["edition"]["counts"] == after.as_json()


def test_unknown_newsletters_and_editions_are_404(site: WebApp, client: AppClient) -> None:
    for method, url in [
        ("GET", f"/api/editions/{UNKNOWN_EDITION}"),
        ("GET", "/api/editions/not-an-id"),
        ("GET", "/api/editions?newsletter=weekly"),
        ("POST", "/api/newsletters/weekly/plan"),
        ("POST", "/api/newsletters/weekly/send"),
        ("POST", f"/api/newsletters/{UNKNOWN_EDITION}/pause"),
        ("POST", f"/api/editions/{UNKNOWN_EDITION}/resume"),
        ("POST", f"/api/editions/{DEMO_NEWSLETTER}/pause"),  # a name is not an edition
    ]:
        response = client.request(method, url, headers=AUTH)
        assert response.status_code == 404, url
        assert response.json()["detail"].startswith("no "), url
    assert newsletter_of(client)["paused"] is False
    assert site.parts.editions.latest(DEMO_NEWSLETTER) is None


def test_a_malformed_pause_reason_is_refused_in_json(client: AppClient) -> None:
    edition_id = planned(client)["id"]
    for body in [{"reason": ""}, {"reason": "two\nlines"}, {"reason": 3}, {"why": "typo"}]:
        response = client.post(f"/api/editions/{edition_id}/pause", headers=AUTH, json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"], body
    assert edition_of(client, edition_id)["paused"] is False


def test_a_store_that_cannot_answer_is_503_in_json(site: WebApp, client: AppClient) -> None:
    site.parts.engine.dispose()
    for path in site.parts.settings.data_dir.glob("digest.sqlite3*"):
        path.unlink()  # the next connection opens an empty file: no tables

    response = client.get("/api/editions", headers=AUTH)

    assert response.status_code == 503
    assert response.json() == {"detail": STORE_FAILED}


# -- generated requests ---------------------------------------------------------------------


def test_generated_requests_find_no_server_error(site: WebApp, client: AppClient) -> None:
    """Every operation, with generated values and with the demo's real name and edition.

    Schemathesis's pytest loaders are not used: ``schemathesis.pytest.from_fixture`` (the
    one that can take this fixture's app) reads ``Item._nodeid``, which pytest 9 removed.
    Each operation's strategy runs under ``given`` instead, as schemathesis documents.
    """
    known = {"name": DEMO_NEWSLETTER, "edition_id": planned(client)["id"]}
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", site.app, headers=AUTH)
    for method, template in ROUTES:  # every operation of the schema (tested above)
        operation = schema[template][method]
        real = {name: known[name] for name in known if f"{{{name}}}" in operation.path}
        for mode, fixed in [
            (GenerationMode.POSITIVE, {}),
            (GenerationMode.POSITIVE, real),
            (GenerationMode.NEGATIVE, {}),
        ]:
            requests_find_no_error(operation.as_strategy(mode, path_parameters=fixed))


def requests_find_no_error(cases: SearchStrategy[Case[Any]]) -> None:
    """A few generated requests, each answered as the schema says and never with a 5xx."""

    @given(case=cases)
    @settings(
        max_examples=10,
        deadline=None,
        derandomize=True,  # the same requests on every run: a failure here is reproducible
        database=None,  # no .hypothesis folder in the work tree
        suppress_health_check=list(HealthCheck),  # generation speed is not under test
    )
    def call(case: Case[Any]) -> None:
        case.call_and_validate(
            headers=AUTH,
            checks=[
                checks.not_a_server_error,
                checks.status_code_conformance,
                checks.content_type_conformance,
                checks.response_schema_conformance,
            ],
        )

    call()


def test_metrics_page_reports_the_store_in_prometheus_text(client: AppClient) -> None:
    edition = planned(client)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    planned_total = {
        sample.labels["newsletter"]: sample.value
        for sample in families["digest_editions_planned"].samples
    }
    assert planned_total == {DEMO_NEWSLETTER: 1}
    by_status = {
        sample.labels["status"]: sample.value for sample in families["digest_deliveries"].samples
    }
    assert by_status["pending"] == edition["counts"]["pending"] == 30
    assert by_status["sent"] == 0
