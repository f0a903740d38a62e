"""`GET /articles/export`: the library as JSON Lines that `POST /articles/import` reads back
unchanged, and the example file knowledge/examples/articles.jsonl."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from app.articles.schemas import ArticleCreate
from tests.conftest import ROOT, AppFactory, article_payload, pg_schema

EXAMPLES = ROOT / "knowledge" / "examples" / "articles.jsonl"
ZENDESK = Path(__file__).parent / "fixtures" / "zendesk.json"


@contextmanager
def _second_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """Another empty database on the same backend as `database_url`."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'second.db'}"
        return
    with pg_schema() as url:
        yield url


def _library(client: TestClient) -> None:
    """Articles of every status and origin: drafts from a file and from Zendesk, published
    ones (one with non-ASCII text and a tier-2 step), an archived one."""
    imported = client.post("/articles/import", content=EXAMPLES.read_bytes()).json()
    assert (imported["created"], imported["failed"]) == (3, 0)
    zendesk = client.post(
        "/articles/import",
        params={"format": "zendesk", "modality": "IT"},
        content=ZENDESK.read_bytes(),
    ).json()
    assert zendesk["created"] == 3
    for n, title in enumerate(("Gantry noise", "Écran noir — 20 °C", "Table drifts"), start=1):
        body = article_payload(slug=f"ct-exported-{n}", title=title)
        assert client.post("/articles", json=body).status_code == 201
    assert client.post("/articles/ct-exported-3/archive").status_code == 200


def _export(client: TestClient, **params: str) -> bytes:
    response = client.get("/articles/export", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return response.content


def test_export_imports_into_a_fresh_library_and_exports_byte_identical(
    make_client: AppFactory, database_url: str, tmp_path: Path
) -> None:
    first = make_client(database_url)
    _library(first)
    exported = _export(first)
    lines = exported.decode("utf-8").splitlines()
    assert len(lines) == first.get("/articles").json()["total"] == 9
    for line in lines:
        ArticleCreate.model_validate_json(line)  # each line is what the import reads

    with _second_database(database_url, tmp_path) as other_url:
        fresh = make_client(other_url, tmp_path / "fresh")
        report = fresh.post("/articles/import", content=exported).json()
        assert (report["created"], report["failed"], report["errors"]) == (9, 0, [])
        assert _export(fresh) == exported

    # read back into the library it came from, nothing changes
    again = first.post("/articles/import", content=exported).json()
    assert (again["unchanged"], again["created"], again["updated"]) == (9, 0, 0)


def test_export_filters_by_status_and_writes_archived_articles_as_drafts(
    make_client: AppFactory, database_url: str
) -> None:
    client = make_client(database_url)
    _library(client)
    published = [json.loads(x) for x in _export(client, status="published").splitlines()]
    assert [a["slug"] for a in published] == ["ct-exported-1", "ct-exported-2"]
    assert {a["status"] for a in published} == {"published"}
    assert published[1]["title"] == "Écran noir — 20 °C"
    archived = [json.loads(x) for x in _export(client, status="archived").splitlines()]
    assert [(a["slug"], a["status"]) for a in archived] == [("ct-exported-3", "draft")]
    drafts = _export(client, status="draft").splitlines()
    assert len(drafts) == 6


def test_export_needs_a_key_with_articles_read(make_client: AppFactory, database_url: str) -> None:
    client = make_client(database_url)
    assert client.get("/articles/export", headers={"X-API-Key": ""}).status_code == 401
    made = client.post("/clients", json={"name": "search only", "scopes": ["search"]}).json()
    key = client.post("/keys", json={"name": "k", "client_id": made["id"]}).json()["key"]
    assert client.get("/articles/export", headers={"X-API-Key": key}).status_code == 403
    assert client.get("/articles/export", params={"status": "gone"}).status_code == 422


def test_the_example_file_is_a_valid_import(make_client: AppFactory, database_url: str) -> None:
    client = make_client(database_url)
    report = client.post("/articles/import", content=EXAMPLES.read_bytes()).json()
    assert (report["created"], report["failed"]) == (3, 0)
    again = client.post("/articles/import", content=EXAMPLES.read_bytes()).json()
    assert again["unchanged"] == 3
    # the file is itself an export: the same bytes come back out
    assert _export(client) == EXAMPLES.read_bytes()
