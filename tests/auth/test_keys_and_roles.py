import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.auth.models import ApiKey
from app.auth.permissions import matrix_markdown
from app.config import Settings
from app.db import utcnow
from app.main import create_app
from tests.conftest import ROOT, AppFactory, article_payload, key_for


def _as(client: TestClient, key: str | None) -> dict[str, str]:
    return {"X-API-Key": key} if key else {}


def test_request_without_key_gets_401(client: TestClient) -> None:
    response = client.post("/search", json={"query": "coil"}, headers={"X-API-Key": ""})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("bad", ["nonsense", "hd_abc_def", "hd_000000000000_" + "x" * 43])
def test_request_with_bad_key_gets_401(client: TestClient, bad: str) -> None:
    assert client.get("/articles", headers={"X-API-Key": bad}).status_code == 401


def test_bearer_header_is_accepted(client: TestClient) -> None:
    _, key = key_for(client, "dispatcher")
    response = client.get("/me", headers={"Authorization": f"Bearer {key}", "X-API-Key": ""})
    assert response.status_code == 200
    assert response.json()["roles"] == ["dispatcher"]


def test_health_and_docs_need_no_key(client: TestClient) -> None:
    anonymous = {"X-API-Key": ""}
    assert client.get("/health", headers=anonymous).status_code == 200
    assert client.get("/openapi.json", headers=anonymous).status_code == 200
    assert client.get("/docs", headers=anonymous).status_code == 200


def test_revoked_key_stops_working_at_once(client: TestClient) -> None:
    _, key = key_for(client, "dispatcher")
    assert client.get("/me", headers=_as(client, key)).status_code == 200
    key_id = client.get("/me", headers=_as(client, key)).json()["key_id"]
    assert client.post(f"/keys/{key_id}/revoke").status_code == 200
    assert client.get("/me", headers=_as(client, key)).status_code == 401


def test_keys_are_stored_hashed_and_last_use_recorded(client: TestClient) -> None:
    _, key = key_for(client, "engineer")
    client.get("/me", headers=_as(client, key))
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        rows = session.scalars(select(ApiKey)).all()
        assert all(key not in (r.key_hash, r.prefix, r.name) for r in rows)
    listed = client.get("/keys").json()
    assert "key" not in listed[0]
    mine = [k for k in listed if key.split("_")[1] == k["prefix"]]
    assert mine[0]["last_used_at"] is not None


def test_wrong_role_gets_403_naming_the_permission(client: TestClient) -> None:
    _, key = key_for(client, "dispatcher")
    response = client.post("/articles", json=article_payload(), headers=_as(client, key))
    assert response.status_code == 403
    assert response.json()["missing_permissions"] == ["articles:write"]
    assert "articles:write" in response.json()["detail"]


# (role, method, path, body, allowed)
MATRIX = [
    ("dispatcher", "post", "/search", {"query": "coil"}, True),
    ("dispatcher", "get", "/articles", None, True),
    ("dispatcher", "post", "/articles", article_payload(), False),
    ("dispatcher", "get", "/people", None, True),
    ("dispatcher", "post", "/people", {"name": "x", "roles": ["admin"]}, False),
    ("dispatcher", "get", "/audit", None, False),
    ("dispatcher", "get", "/keys", None, False),
    ("engineer", "post", "/articles", article_payload(), True),
    ("engineer", "post", "/search", {"query": "coil"}, True),
    ("engineer", "get", "/audit", None, False),
    ("engineer", "post", "/keys", {"name": "x", "person_id": 1}, False),
    ("field_engineer", "get", "/articles", None, True),
    ("field_engineer", "post", "/articles", article_payload(), False),
    ("field_engineer", "post", "/articles/import", None, False),
    ("admin", "get", "/audit", None, True),
    ("admin", "post", "/people", {"name": "New dispatcher", "roles": ["dispatcher"]}, True),
    ("dispatcher", "get", "/calls", None, True),
    ("dispatcher", "get", "/escalations", None, False),
    ("dispatcher", "post", "/sites", {"hospital": "H"}, False),
    ("dispatcher", "get", "/assets", None, True),
    ("engineer", "get", "/escalations", None, True),
    ("engineer", "post", "/calls/1/escalate", {"reason": "x"}, False),
    ("engineer", "get", "/webhooks/subscriptions", None, False),
    ("field_engineer", "get", "/escalations", None, True),
    ("field_engineer", "post", "/calls", {}, False),
    ("field_engineer", "post", "/escalations/1/accept", None, False),
    ("admin", "post", "/sites", {"hospital": "H"}, True),
    ("admin", "get", "/webhooks/subscriptions", None, True),
]


@pytest.mark.parametrize(("role", "method", "path", "body", "allowed"), MATRIX)
def test_role_matrix_allows_and_refuses(
    client: TestClient, role: str, method: str, path: str, body: object, allowed: bool
) -> None:
    _, key = key_for(client, role)
    kwargs = {"json": body} if body is not None else {}
    response = client.request(method, path, headers=_as(client, key), **kwargs)  # type: ignore[arg-type]
    if allowed:
        assert response.status_code < 400, response.text
    else:
        assert response.status_code == 403, response.text


def test_integration_client_has_only_its_scopes(client: TestClient) -> None:
    created = client.post("/clients", json={"name": "Other desk", "scopes": ["search"]}).json()
    key = client.post("/keys", json={"name": "desk", "client_id": created["id"]}).json()["key"]
    assert (
        client.post("/search", json={"query": "coil"}, headers=_as(client, key)).status_code == 200
    )
    assert client.get("/articles", headers=_as(client, key)).status_code == 403


def test_unknown_scope_is_refused(client: TestClient) -> None:
    response = client.post("/clients", json={"name": "Desk", "scopes": ["everything"]})
    assert response.status_code == 422


def test_permission_matrix_doc_matches_code() -> None:
    from scripts.permissions_doc import document

    doc = (ROOT / "docs" / "permissions.md").read_text()
    assert matrix_markdown() in doc
    assert document(create_app(Settings())) == doc, "regenerate: python -m scripts.permissions_doc"


def test_every_api_route_but_health_needs_a_key(client: TestClient) -> None:
    """Read off the routes, then tried: a route without a key check would serve anyone."""
    from scripts.permissions_doc import route_needs

    open_routes = [(m, p) for m, p, needs in route_needs(client.app) if needs == "no key"]  # type: ignore[arg-type]
    # the console's entry, the API docs page (and its old address) and the health check
    assert open_routes == [("GET", "/"), ("GET", "/docs"), ("GET", "/health"), ("GET", "/redoc")]
    for methods, path, _ in route_needs(client.app):  # type: ignore[arg-type]
        if (methods, path) in open_routes:
            continue
        concrete = path.replace("{ref}", "1").replace("{version}", "1")
        concrete = re.sub(r"\{[a-z_]+\}", "1", concrete)
        for method in methods.split(", "):
            response = client.request(method, concrete, headers={"X-API-Key": ""})
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"


def test_create_admin_key_script_makes_a_working_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.config import get_settings
    from scripts import create_admin_key

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert create_admin_key.main(["--if-none"]) == 0
        first = capsys.readouterr().out
        assert "hd_" in first
        assert create_admin_key.main(["--if-none"]) == 0
        assert "no key created" in capsys.readouterr().out
    finally:
        get_settings.cache_clear()


def test_deactivating_a_person_stops_their_cached_key_at_once(client: TestClient) -> None:
    person_id, key = key_for(client, "dispatcher")
    assert client.get("/me", headers=_as(client, key)).status_code == 200  # now cached
    assert client.patch(f"/people/{person_id}", json={"active": False}).status_code == 200
    assert client.get("/me", headers=_as(client, key)).status_code == 401


def test_role_change_applies_to_the_next_request(client: TestClient) -> None:
    person_id, key = key_for(client, "field_engineer")
    assert (
        client.post("/articles", json=article_payload(), headers=_as(client, key)).status_code
        == 403
    )
    assert client.patch(f"/people/{person_id}", json={"roles": ["engineer"]}).status_code == 200
    assert (
        client.post("/articles", json=article_payload(), headers=_as(client, key)).status_code
        == 201
    )


def _revoke_behind_the_apps_back(client: TestClient, key: str) -> None:
    """Revoke a key in the database directly, as another worker or a script would."""
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        row = session.scalars(select(ApiKey).where(ApiKey.prefix == key.split("_")[1])).one()
        row.revoked_at = utcnow()
        session.commit()


def test_key_revoked_outside_this_process_is_refused_once_the_cache_bound_passes(
    client: TestClient,
) -> None:
    """A revocation this process does not see (another worker, a script) is bounded by
    AUTH_CACHE_SECONDS; the cache's clock is moved instead of waiting."""
    cache = client.app.state.principals  # type: ignore[attr-defined]
    now = [1000.0]
    cache.clock = lambda: now[0]
    _, key = key_for(client, "dispatcher")
    assert client.get("/me", headers=_as(client, key)).status_code == 200
    _revoke_behind_the_apps_back(client, key)
    now[0] += cache.ttl - 0.01
    assert client.get("/me", headers=_as(client, key)).status_code == 200, "within the bound"
    now[0] += 0.02
    assert client.get("/me", headers=_as(client, key)).status_code == 401, "past the bound"


def test_without_the_key_cache_every_request_checks_the_database(
    make_client: AppFactory, database_url: str
) -> None:
    client = make_client(database_url, auth_cache_seconds=0)
    _, key = key_for(client, "dispatcher")
    assert client.get("/me", headers=_as(client, key)).status_code == 200
    _revoke_behind_the_apps_back(client, key)
    assert client.get("/me", headers=_as(client, key)).status_code == 401
