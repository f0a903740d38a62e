from fastapi.testclient import TestClient

from tests.conftest import article_payload, key_for


def test_every_write_is_recorded_with_actor_and_key(client: TestClient) -> None:
    person_id, key = key_for(client, "engineer", name="Erin Engineer")
    created = client.post("/articles", json=article_payload(), headers={"X-API-Key": key})
    refused = client.post(
        "/people", json={"name": "x", "roles": ["admin"]}, headers={"X-API-Key": key}
    )
    assert refused.status_code == 403
    log = client.get("/audit", params={"actor": "Erin Engineer"}).json()
    entries = {(e["method"], e["path"], e["status"]) for e in log["items"]}
    assert ("POST", "/articles", 201) in entries
    assert ("POST", "/people", 403) in entries
    assert all(e["person_id"] == person_id and e["key_id"] for e in log["items"])
    assert created.status_code == 201
    action = [e["action"] for e in log["items"] if e["path"] == "/articles"]
    assert action == ["Create an article"]


def test_audit_log_filters_by_path_and_status(client: TestClient) -> None:
    client.post("/articles", json=article_payload())
    client.post("/articles", json=article_payload(title="x"))  # 422: title too short
    failed = client.get("/audit", params={"path_prefix": "/articles", "status": 422}).json()
    assert failed["total"] == 1
    assert client.get("/audit", params={"method": "GET"}).status_code == 422


def test_reads_are_not_logged(client: TestClient) -> None:
    client.get("/articles")
    assert client.get("/audit", params={"path_prefix": "/articles"}).json()["total"] == 0


def test_searches_are_reads_and_not_logged(client: TestClient) -> None:
    client.post("/articles", json=article_payload())
    assert client.post("/search", json={"query": "grinding noise"}).status_code == 200
    assert client.post("/search", json={"query": ""}).status_code == 422
    assert client.get("/audit", params={"path_prefix": "/search"}).json()["total"] == 0
    assert client.get("/audit", params={"path_prefix": "/articles"}).json()["total"] == 1
