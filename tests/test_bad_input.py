"""Input that used to cause a 500 or a wrong answer: NUL characters, LIKE wildcards,
a method a path does not allow, a constraint the database refuses."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import article_payload, key_for

PROBLEM = "application/problem+json"
NUL = "a\x00b"


def _nul_refused(response, field: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert field in [e["field"] for e in response.json()["errors"]]


@pytest.fixture
def scanner(client: TestClient) -> dict:
    field_id, _ = key_for(client, "field_engineer")
    site = client.post("/sites", json={"hospital": "Royal Infirmary", "department": "MRI"})
    asset = client.post(
        "/assets",
        json={
            "site_id": site.json()["id"],
            "modality": "MR",
            "manufacturer": "Nordvale Medical",
            "model": "Magnara 3T",
            "serial_number": "MAG3-1",
            "primary_engineer_id": field_id,
        },
    )
    assert asset.status_code == 201, asset.text
    return dict(asset.json())


def test_nul_in_any_text_is_refused_naming_the_field(client: TestClient, scanner: dict) -> None:
    _, dispatcher = key_for(client, "dispatcher")
    call = {"caller_name": "Rita", "serial_number": "MAG3-1", "urgency": "question"}
    as_dispatcher = {"X-API-Key": dispatcher}
    for body, field in (
        (call | {"caller_name": NUL}, "caller_name"),
        (call | {"symptom": f"coil {NUL}"}, "symptom"),
    ):
        _nul_refused(client.post("/calls", json=body, headers=as_dispatcher), field)
    _nul_refused(client.post("/articles", json=article_payload(title=NUL * 3)), "title")
    steps = [{"text": f"step {NUL}"}]
    _nul_refused(client.post("/articles", json=article_payload(steps=steps)), "steps.0.text")
    _nul_refused(client.post("/sites", json={"hospital": NUL}), "hospital")
    _nul_refused(client.post("/people", json={"name": NUL, "roles": ["dispatcher"]}), "name")
    _nul_refused(client.get("/articles", params={"q": NUL}), "q")
    _nul_refused(client.get("/assets", params={"serial": NUL}), "serial")
    _nul_refused(client.get("/articles/ct-a%00b"), "ref")
    _nul_refused(client.get("/assets/by-serial/MAG3%001"), "serial_number")
    _nul_refused(client.post("/search", json={"query": f"coil {NUL}"}), "query")
    # nothing was written
    assert client.get("/articles").json()["total"] == 0
    assert client.get("/calls").json() == []


def test_nul_in_an_import_line_is_reported_for_that_line(client: TestClient) -> None:
    import json

    good = json.dumps(article_payload(slug="ct-good"))
    bad = json.dumps(article_payload(slug="ct-bad", cause=NUL))
    report = client.post("/articles/import", content=f"{good}\n{bad}\n").json()
    assert (report["created"], report["failed"]) == (1, 1)
    assert report["errors"] == [
        {"line": 2, "field": "cause", "message": "contains a NUL character"}
    ]


def test_like_wildcards_are_matched_literally(client: TestClient, scanner: dict) -> None:
    assert client.get("/assets", params={"serial": "%"}).json() == []
    assert client.get("/assets", params={"serial": "_"}).json() == []
    assert client.get("/assets", params={"q": "%"}).json() == []
    found = client.get("/assets", params={"serial": "mag3-"}).json()
    assert [a["serial_number"] for a in found] == ["MAG3-1"]
    client.post("/articles", json=article_payload(title="Coil 100% dead"))
    client.post("/articles", json=article_payload(title="Coil 100 dead", slug="ct-other"))
    listed = client.get("/articles", params={"q": "100%"}).json()
    assert [a["title"] for a in listed["items"]] == ["Coil 100% dead"]
    assert client.get("/sites", params={"q": "%"}).json() == []


def test_a_method_not_allowed_says_which_are(client: TestClient) -> None:
    response = client.put("/articles")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith(PROBLEM)
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_a_refused_unique_value_is_a_409_naming_the_field(client: TestClient) -> None:
    site = client.post("/sites", json={"hospital": "Royal Infirmary"}).json()
    field_id, _ = key_for(client, "field_engineer")
    body = {
        "site_id": site["id"],
        "modality": "CT",
        "manufacturer": "Nordvale Medical",
        "model": "Aurion 64",
        "serial_number": "AUR-1",
        "primary_engineer_id": field_id,
    }
    assert client.post("/assets", json=body).status_code == 201
    other = client.post("/assets", json=body | {"serial_number": "AUR-2"}).json()
    response = client.patch(f"/assets/{other['id']}", json={"serial_number": "AUR-1"})
    assert response.status_code == 409
    assert response.json()["field"] == "serial_number"
    assert client.get(f"/assets/{other['id']}").json()["serial_number"] == "AUR-2"
