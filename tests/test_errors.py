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
