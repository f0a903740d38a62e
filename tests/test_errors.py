"""One error shape across the API, and nothing a client sends causes a 500."""

from fastapi.testclient import TestClient

from tests.conftest import AppFactory, article_payload

PROBLEM = "application/problem+json"


def test_unknown_article_gets_404_problem(client: TestClient) -> None:
    response = client.get("/articles/no-such-article")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == 404
    assert "no-such-article" in body["detail"]


def test_missing_field_gets_422_naming_it(client: TestClient) -> None:
    payload = article_payload()
    del payload["steps"]
    response = client.post("/articles", json=payload)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "steps", "message": "Field required"}]


def test_unknown_field_is_refused(client: TestClient) -> None:
    response = client.post("/articles", json=article_payload(titel="typo"))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["titel"]


def test_malformed_json_gets_422(client: TestClient) -> None:
    response = client.post(
        "/articles", content=b'{"title": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)


def test_malformed_if_match_gets_422(client: TestClient) -> None:
    created = client.post("/articles", json=article_payload()).json()
    response = client.patch(
        f"/articles/{created['id']}", json={"title": "New title"}, headers={"If-Match": "yesterday"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "If-Match"
    assert client.get(f"/articles/{created['id']}").json()["version"] == 1


def test_duplicate_slug_gets_409_and_keeps_the_first(client: TestClient) -> None:
    client.post("/articles", json=article_payload(slug="ct-same"))
    response = client.post("/articles", json=article_payload(slug="ct-same", title="Other"))
    assert response.status_code == 409
    assert client.get("/articles/ct-same").json()["title"] != "Other"


def test_oversized_body_gets_413(make_client: AppFactory, database_url: str) -> None:
    client = make_client(database_url, max_body_bytes=2048)
    response = client.post("/articles", json=article_payload(cause="x" * 4000))
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(PROBLEM)
    assert client.get("/articles").json()["total"] == 0


def test_health_answers_without_anything_loaded(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_ids_beyond_64_bits_get_4xx_not_500(client: TestClient) -> None:
    huge = "9" * 30
    for method, path in [
        ("get", f"/assets/{huge}"),
        ("get", f"/calls/{huge}"),
        ("get", f"/articles/{huge}"),
        ("post", f"/calls/{huge}/notes"),
        ("get", f"/articles/1/versions/{huge}"),
        ("get", f"/articles?offset={huge}"),
        ("get", f"/assets?offset={huge}"),
    ]:
        response = client.request(method, path, json={"text": "x"})
        assert response.status_code in (404, 422), (path, response.status_code)
    body = {"caller_name": "A", "asset_id": int(huge), "urgency": "question"}
    assert client.post("/calls", json=body).status_code == 422


def test_explicit_null_on_a_required_field_is_refused(client: TestClient) -> None:
    site = client.post("/sites", json={"hospital": "General"}).json()
    response = client.patch(f"/sites/{site['id']}", json={"address": None, "main_phone": None})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["address"]
    created = client.post("/articles", json=article_payload()).json()
    nulled = client.patch(f"/articles/{created['id']}", json={"title": None, "version": 1})
    assert nulled.status_code == 422
    assert nulled.json()["errors"][0]["field"] == "title"
    ok = client.patch(f"/articles/{created['id']}", json={"manufacturer": None, "version": 1})
    assert ok.status_code == 200
    assert ok.json()["manufacturer"] is None
