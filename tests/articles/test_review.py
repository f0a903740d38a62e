"""The review gate: KCS licences, pending revisions, approve and reject, the import."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.conftest import article_payload, key_for

NEW_TITLE = "Injector arm drifts away from the patient table"
NEW_ISSUE = "The contrast injector arm keeps swinging loose and will not lock in place."
NEW_CODE = "INJ-77"


def _writer(client: TestClient, licence: str, name: str | None = None) -> dict[str, str]:
    """Headers of a new engineer holding `licence` (set by the people admin)."""
    person_id, key = key_for(client, "engineer", name=name)
    changed = client.patch(f"/people/{person_id}", json={"kcs_licence": licence})
    assert changed.status_code == 200, changed.text
    assert changed.json()["kcs_licence"] == licence
    return {"X-API-Key": key}


def _top_slugs(client: TestClient, query: str) -> list[str]:
    return [hit["slug"] for hit in _hits(client, query)]


def _hits(client: TestClient, query: str) -> list[dict]:
    response = client.post("/search", json={"query": query, "limit": 3})
    assert response.status_code == 200, response.text
    hits: list[dict] = response.json()["results"]
    return hits


def _code_matches(client: TestClient, code: str) -> list[str]:
    """The slugs of the hits that matched `code` as an error code."""
    return [hit["slug"] for hit in _hits(client, code) if hit["why"]["error_codes"]]


def _published(client: TestClient, **overrides: object) -> dict[str, object]:
    created = client.post("/articles", json=article_payload(**overrides))
    assert created.status_code == 201, created.text
    body: dict[str, object] = created.json()
    return body


def _propose(client: TestClient, article: dict[str, object], who: dict[str, str]) -> dict:
    response = client.patch(
        f"/articles/{article['id']}",
        json={"title": NEW_TITLE, "issue": NEW_ISSUE, "error_codes": [NEW_CODE]},
        headers={**who, "If-Match": f'"{article["version"]}"'},
    )
    assert response.status_code == 202, response.text
    revision: dict = response.json()
    assert response.headers["location"] == f"/articles/{article['id']}/revisions/{revision['id']}"
    return revision


def test_contributor_edit_of_published_article_waits_and_the_article_stays_live(
    client: TestClient,
) -> None:
    article = _published(client)
    contributor = _writer(client, "contributor", name="Cora Contributor")
    revision = _propose(client, article, contributor)
    assert revision["status"] == "pending"
    assert revision["based_on"] == 1
    assert revision["proposed_by"] == "Cora Contributor"
    assert revision["changed_fields"] == ["title", "issue", "error_codes"]

    # reads and search still give the published version
    current = client.get(f"/articles/{article['id']}", headers=contributor)
    assert current.json()["version"] == 1
    assert current.json()["title"] == article["title"]
    assert current.headers["etag"] == '"1"'
    assert _code_matches(client, NEW_CODE) == []
    assert [hit["title"] for hit in _hits(client, "injector arm swinging loose")] == [
        article["title"]
    ]

    queue = client.get("/reviews", headers=contributor).json()
    assert queue["total"] == 1
    assert [item["id"] for item in queue["items"]] == [revision["id"]]
    detail = client.get(f"/articles/{article['slug']}/revisions/{revision['id']}").json()
    title = next(change for change in detail["diff"] if change["field"] == "title")
    assert title == {"field": "title", "current": article["title"], "proposed": NEW_TITLE}
    assert detail["stale"] is False


def test_approving_makes_the_revision_live_as_a_new_version(client: TestClient) -> None:
    article = _published(client)
    revision = _propose(client, article, _writer(client, "contributor", name="Cora C"))
    publisher = _writer(client, "publisher", name="Paula Publisher")

    approved = client.post(
        f"/articles/{article['id']}/revisions/{revision['id']}/approve",
        json={"note": "Good wording"},
        headers=publisher,
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["reviewed_by"] == "Paula Publisher"
    assert approved.json()["current_version"] == 2

    now = client.get(f"/articles/{article['id']}").json()
    assert (now["version"], now["title"], now["updated_by"]) == (2, NEW_TITLE, "Paula Publisher")
    assert _code_matches(client, NEW_CODE) == [article["slug"]]
    assert _hits(client, "injector arm swinging loose")[0]["title"] == NEW_TITLE
    versions = client.get(f"/articles/{article['id']}/versions").json()
    assert versions[0]["change"] == f"approved revision {revision['id']} by Cora C"
    assert client.get("/reviews").json()["total"] == 0

    again = client.post(f"/articles/{article['id']}/revisions/{revision['id']}/approve")
    assert again.status_code == 409
    assert again.json()["current_status"] == "approved"

    audit = client.get("/audit", params={"path_prefix": f"/articles/{article['id']}"}).json()
    done = {(row["method"], row["action"], row["status"]) for row in audit["items"]}
    assert ("PATCH", "Update an article", 202) in done
    assert ("POST", "Approve a revision", 200) in done


def test_rejecting_needs_a_note_and_keeps_the_article(client: TestClient) -> None:
    article = _published(client)
    revision = _propose(client, article, _writer(client, "contributor"))
    url = f"/articles/{article['id']}/revisions/{revision['id']}"

    missing = client.post(f"{url}/reject", json={"note": "   "})
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["note"]
    assert client.get(url).json()["status"] == "pending"

    rejected = client.post(f"{url}/reject", json={"note": "Keep the gantry wording: it is CT."})
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["review_note"] == "Keep the gantry wording: it is CT."
    assert client.get(f"/articles/{article['id']}").json()["version"] == 1
    assert client.post(f"{url}/approve").status_code == 409
    listed = client.get(f"/articles/{article['id']}/revisions", params={"status": "rejected"})
    assert [r["id"] for r in listed.json()] == [revision["id"]]


def test_only_a_publisher_reviews(client: TestClient) -> None:
    article = _published(client)
    contributor = _writer(client, "contributor")
    revision = _propose(client, article, contributor)
    url = f"/articles/{article['id']}/revisions/{revision['id']}"
    for action, body in (("approve", None), ("reject", {"note": "no"})):
        refused = client.post(f"{url}/{action}", json=body, headers=contributor)
        assert refused.status_code == 403
        assert refused.json()["needed_licence"] == "publisher"
    _, dispatcher = key_for(client, "dispatcher")
    assert client.get("/reviews", headers={"X-API-Key": dispatcher}).status_code == 403


def test_candidate_cannot_publish_and_changes_only_their_own_drafts(client: TestClient) -> None:
    candidate = _writer(client, "candidate", name="Cal Candidate")
    me = client.get("/me", headers=candidate).json()
    assert me["licence"] == "candidate"
    assert "articles:publish" not in me["permissions"]

    refused = client.post("/articles", json=article_payload(), headers=candidate)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["needed_licence"] == "publisher"
    assert "publisher" in refused.json()["detail"]

    draft = client.post("/articles", json=article_payload(status="draft"), headers=candidate)
    assert draft.status_code == 201
    assert draft.json()["author"] == "Cal Candidate"
    publish = client.post(f"/articles/{draft.json()['id']}/publish", headers=candidate)
    assert publish.status_code == 403
    assert publish.json()["needed_licence"] == "publisher"
    assert client.get(f"/articles/{draft.json()['id']}").json()["status"] == "draft"

    own = client.patch(
        f"/articles/{draft.json()['id']}",
        json={"cause": "A dry bearing."},
        headers=candidate | {"If-Match": '"1"'},
    )
    assert own.status_code == 200, own.text
    assert own.json()["version"] == 2

    theirs = client.post("/articles", json=article_payload(status="draft", title="Other draft"))
    edit = {"json": {"cause": "Mine now"}, "headers": {"If-Match": '"1"'}}
    refused_edit = client.patch(
        f"/articles/{theirs.json()['id']}", json=edit["json"], headers=candidate | edit["headers"]
    )
    assert refused_edit.status_code == 403
    assert refused_edit.json()["needed_licence"] == "contributor"
    contributor = _writer(client, "contributor")
    allowed = client.patch(
        f"/articles/{theirs.json()['id']}", json=edit["json"], headers=contributor | edit["headers"]
    )
    assert allowed.status_code == 200
    assert allowed.json()["cause"] == "Mine now"


def test_a_publisher_publishes_and_edits_directly(client: TestClient) -> None:
    _, key = key_for(client, "engineer")  # an engineer created without a licence publishes
    publisher = {"X-API-Key": key}
    assert client.get("/me", headers=publisher).json()["licence"] == "publisher"
    draft = client.post("/articles", json=article_payload(status="draft"), headers=publisher)
    published = client.post(f"/articles/{draft.json()['id']}/publish", headers=publisher)
    assert published.status_code == 200, published.text
    edited = client.patch(
        f"/articles/{draft.json()['id']}",
        json={"title": NEW_TITLE, "issue": NEW_ISSUE},
        headers=publisher | {"If-Match": '"2"'},
    )
    assert edited.status_code == 200
    assert edited.json()["version"] == 3
    assert _hits(client, "injector arm swinging loose")[0]["title"] == NEW_TITLE
    assert client.get("/reviews").json()["total"] == 0


def test_a_stale_revision_cannot_be_approved(client: TestClient) -> None:
    article = _published(client)
    revision = _propose(client, article, _writer(client, "contributor"))
    meanwhile = client.patch(
        f"/articles/{article['id']}", json={"cause": "Dry bearing."}, headers={"If-Match": '"1"'}
    )
    assert meanwhile.status_code == 200
    queued = client.get("/reviews").json()["items"][0]
    assert (queued["id"], queued["stale"], queued["current_version"]) == (revision["id"], True, 2)

    refused = client.post(f"/articles/{article['id']}/revisions/{revision['id']}/approve")
    assert refused.status_code == 409
    assert refused.json()["current_version"] == 2
    assert refused.json()["based_on"] == 1
    now = client.get(f"/articles/{article['id']}").json()
    assert (now["version"], now["title"], now["cause"]) == (2, article["title"], "Dry bearing.")


def test_a_second_edit_amends_the_pending_revision(client: TestClient) -> None:
    article = _published(client)
    contributor = _writer(client, "contributor")
    first = _propose(client, article, contributor)
    second = client.patch(
        f"/articles/{article['id']}",
        json={"cause": "A loose brake pad."},
        headers=contributor | {"If-Match": '"1"'},
    )
    assert second.status_code == 202
    assert second.json()["content"]["title"] == NEW_TITLE  # the first edit is kept
    assert second.json()["content"]["cause"] == "A loose brake pad."
    statuses = {
        r["id"]: r["status"] for r in client.get(f"/articles/{article['id']}/revisions").json()
    }
    assert statuses == {first["id"]: "superseded", second.json()["id"]: "pending"}


def test_restore_by_a_contributor_waits_for_review(client: TestClient) -> None:
    article = _published(client)
    edited = client.patch(
        f"/articles/{article['id']}", json={"title": NEW_TITLE}, headers={"If-Match": '"1"'}
    )
    assert edited.json()["version"] == 2
    restore = client.post(
        f"/articles/{article['id']}/versions/1/restore",
        headers=_writer(client, "contributor") | {"If-Match": '"2"'},
    )
    assert restore.status_code == 202, restore.text
    assert restore.json()["change"] == "restored version 1"
    assert restore.json()["content"]["title"] == article["title"]
    assert client.get(f"/articles/{article['id']}").json()["title"] == NEW_TITLE


def test_import_by_a_contributor_drafts_new_articles_and_holds_changes(
    client: TestClient,
) -> None:
    article = _published(client, slug="ct-gantry-grinds")
    kept = _published(client, slug="ct-kept-as-is", title="Kept as it is")
    changed = article_payload(slug="ct-gantry-grinds", title=NEW_TITLE, issue=NEW_ISSUE)
    same = {k: v for k, v in kept.items() if k in article_payload()} | {"slug": "ct-kept-as-is"}
    lines = [
        json.dumps(article_payload(slug="ct-brand-new", title="Brand new fault")),
        json.dumps(changed),
        json.dumps(same),
    ]
    contributor = _writer(client, "contributor", name="Ivo Importer")
    report = client.post(
        "/articles/import",
        content="\n".join(lines),
        headers=contributor | {"content-type": "application/x-ndjson"},
    )
    assert report.status_code == 200, report.text
    counts = {k: report.json()[k] for k in ("created", "updated", "unchanged", "drafted")}
    assert counts == {"created": 0, "updated": 0, "unchanged": 1, "drafted": 1}
    assert report.json()["pending"] == 1

    assert client.get("/articles/ct-brand-new").json()["status"] == "draft"
    assert "ct-brand-new" not in _top_slugs(client, "Brand new fault")
    live = client.get("/articles/ct-gantry-grinds").json()
    assert (live["version"], live["title"]) == (1, article["title"])
    pending = client.get("/articles/ct-gantry-grinds/revisions").json()
    assert [(r["status"], r["change"], r["proposed_by"]) for r in pending] == [
        ("pending", "imported", "Ivo Importer")
    ]
    again = client.post("/articles/import", content=lines[1], headers=contributor)
    assert again.json()["pending"] == 1
    assert len(client.get("/articles/ct-gantry-grinds/revisions").json()) == 1

    # a publisher's import of the same change applies it, as before licences
    by_publisher = client.post("/articles/import", content=lines[1]).json()
    assert by_publisher["updated"] == 1
    assert client.get("/articles/ct-gantry-grinds").json()["title"] == NEW_TITLE


def test_integration_clients_act_by_their_scopes(client: TestClient) -> None:
    article = _published(client)
    keys = {}
    for name, scopes in (
        ("writer", ["articles:read", "articles:write"]),
        ("publisher", ["articles:read", "articles:write", "articles:publish"]),
    ):
        made = client.post("/clients", json={"name": name, "scopes": scopes}).json()
        keys[name] = client.post("/keys", json={"name": name, "client_id": made["id"]}).json()
    writer = {"X-API-Key": keys["writer"]["key"]}
    publisher = {"X-API-Key": keys["publisher"]["key"]}
    assert client.get("/me", headers=writer).json()["licence"] == "contributor"
    edit = {"title": NEW_TITLE}
    held = client.patch(
        f"/articles/{article['id']}", json=edit, headers=writer | {"If-Match": '"1"'}
    )
    assert held.status_code == 202
    applied = client.patch(
        f"/articles/{article['id']}", json=edit, headers=publisher | {"If-Match": '"1"'}
    )
    assert applied.status_code == 200
    assert applied.json()["version"] == 2


def test_people_admin_sets_licences(client: TestClient) -> None:
    made = client.post(
        "/people", json={"name": "Nia New", "roles": ["engineer"], "kcs_licence": "candidate"}
    )
    assert made.status_code == 201
    assert made.json()["kcs_licence"] == "candidate"
    dispatcher = client.post("/people", json={"name": "Dee", "roles": ["dispatcher"]}).json()
    assert dispatcher["kcs_licence"] == "candidate"
    bad = client.patch(f"/people/{made.json()['id']}", json={"kcs_licence": "guru"})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["kcs_licence"]
    # becoming a writer gives the new roles' licence; a writer's own licence is kept
    promoted = client.patch(f"/people/{dispatcher['id']}", json={"roles": ["engineer"]})
    assert promoted.json()["kcs_licence"] == "publisher"
    kept = client.patch(f"/people/{made.json()['id']}", json={"roles": ["engineer", "admin"]})
    assert kept.json()["kcs_licence"] == "candidate"


def test_migration_keeps_everyone_who_published_a_publisher(database_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    from app.db import alembic_config, make_engine, migrate

    engine = make_engine(database_url)
    migrate(engine)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0015")
    people = {"Ada": ["admin"], "Eli": ["engineer", "dispatcher"], "Dot": ["dispatcher"]}
    with engine.begin() as conn:
        for name, roles in people.items():
            conn.execute(
                text(
                    "insert into people (name, roles, active, created_at) "
                    "values (:name, :roles, :active, current_timestamp)"
                ),
                {"name": name, "roles": json.dumps(roles), "active": True},
            )
    migrate(engine)
    with engine.connect() as conn:
        found = dict(conn.execute(text("select name, kcs_licence from people")).tuples().all())
    engine.dispose()
    assert found == {"Ada": "publisher", "Eli": "publisher", "Dot": "candidate"}
