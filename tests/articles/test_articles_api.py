from fastapi.testclient import TestClient

from tests.conftest import article_payload

PROBLEM = "application/problem+json"


def _search_slugs(client: TestClient, query: str) -> list[str]:
    response = client.post("/search", json={"query": query, "limit": 5})
    assert response.status_code == 200, response.text
    return [r["slug"] for r in response.json()["results"]]


def test_create_article_returns_it_with_version_and_etag(client: TestClient) -> None:
    response = client.post("/articles", json=article_payload())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["version"] == 1
    assert body["status"] == "published"
    assert body["slug"] == "ct-gantry-rotation-stops-with-grinding-noise"
    assert response.headers["etag"] == '"1"'
    assert body["steps"][1] == {
        "text": "Inspect the bearing.",
        "tier1_allowed": False,
        "restriction": "covers",
    }
    fetched = client.get(f"/articles/{body['slug']}")
    assert fetched.json()["id"] == body["id"]


def test_create_published_article_is_searchable_at_once(client: TestClient) -> None:
    client.post("/articles", json=article_payload())
    assert _search_slugs(client, "grinding noise when the gantry spins")[0] == (
        "ct-gantry-rotation-stops-with-grinding-noise"
    )


def test_create_draft_article_is_not_searchable_until_published(client: TestClient) -> None:
    created = client.post("/articles", json=article_payload(status="draft")).json()
    assert _search_slugs(client, "grinding noise gantry") == []
    published = client.post(f"/articles/{created['id']}/publish")
    assert published.status_code == 200
    assert published.json()["version"] == 2
    assert _search_slugs(client, "grinding noise gantry") == [created["slug"]]


def test_archive_article_removes_it_from_search_at_once(client: TestClient) -> None:
    created = client.post("/articles", json=article_payload()).json()
    assert client.post(f"/articles/{created['id']}/archive").status_code == 200
    assert _search_slugs(client, "grinding noise gantry") == []


def test_update_article_changes_search_at_once(client: TestClient) -> None:
    created = client.post("/articles", json=article_payload()).json()
    response = client.patch(
        f"/articles/{created['id']}",
        json={
            "title": "Injector arm will not lock",
            "issue": "The contrast injector arm keeps swinging loose and will not lock in place.",
            "error_codes": ["INJ-77"],
        },
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    assert _search_slugs(client, "injector arm swinging loose")[0] == created["slug"]
    assert _search_slugs(client, "INJ 77")[0] == created["slug"]
    old = created["error_codes"][0]
    old_code = client.post("/search", json={"query": old}).json()["results"]
    assert all(hit["why"]["error_codes"] == [] for hit in old_code)


def test_update_article_stale_version_is_refused_and_changes_nothing(client: TestClient) -> None:
    created = client.post("/articles", json=article_payload()).json()
    first = client.patch(
        f"/articles/{created['id']}",
        json={"title": "Edited by engineer A"},
        headers={"If-Match": '"1"'},
    )
    assert first.status_code == 200
    stale = client.patch(
        f"/articles/{created['id']}",
        json={"title": "Edited by engineer B"},
        headers={"If-Match": '"1"'},
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith(PROBLEM)
    assert stale.json()["current_version"] == 2
    stale_body = client.patch(
        f"/articles/{created['id']}", json={"title": "Edited by engineer B", "version": 1}
    )
    assert stale_body.status_code == 409
    current = client.get(f"/articles/{created['id']}").json()
    assert current["title"] == "Edited by engineer A"
    assert current["version"] == 2
    assert len(client.get(f"/articles/{created['id']}/versions").json()) == 2


def test_update_article_without_version_gets_428(client: TestClient) -> None:
    created = client.post("/articles", json=article_payload()).json()
    response = client.patch(f"/articles/{created['id']}", json={"title": "No version given"})
    assert response.status_code == 428
    assert "If-Match" in response.json()["detail"]


def test_versions_keep_every_save_and_restore_makes_a_new_version(client: TestClient) -> None:
    created = client.post("/articles", json=article_payload()).json()
    client.patch(f"/articles/{created['id']}", json={"title": "Second title", "version": 1})
    versions = client.get(f"/articles/{created['id']}/versions").json()
    assert [v["version"] for v in versions] == [2, 1]
    old = client.get(f"/articles/{created['id']}/versions/1").json()
    assert old["content"]["title"] == "Gantry rotation stops with grinding noise"
    restored = client.post(
        f"/articles/{created['id']}/versions/1/restore", headers={"If-Match": '"2"'}
    )
    assert restored.status_code == 200, restored.text
    assert restored.json()["version"] == 3
    assert restored.json()["title"] == "Gantry rotation stops with grinding noise"
    assert client.get(f"/articles/{created['id']}/versions").json()[0]["change"] == (
        "restored version 1"
    )


def test_illegal_transition_gets_409_with_allowed_states(client: TestClient) -> None:
    created = client.post("/articles", json=article_payload(status="draft")).json()
    response = client.post(f"/articles/{created['id']}/archive")
    assert response.status_code == 409
    assert response.json()["current_status"] == "draft"
    assert response.json()["allowed"] == ["published"]


def test_list_articles_filters_sorts_and_pages(client: TestClient) -> None:
    for n, modality in enumerate(["CT", "MR", "CT"]):
        client.post(
            "/articles",
            json=article_payload(
                title=f"Article number {n}",
                modality=modality,
                error_codes=[f"X-{n}00"],
                models=[] if modality == "MR" else ["Aurion 64"],
            ),
        )
    page = client.get("/articles", params={"modality": "CT", "sort": "title", "limit": 1})
    assert page.status_code == 200
    body = page.json()
    assert body["total"] == 2
    assert [a["title"] for a in body["items"]] == ["Article number 0"]
    second = client.get(
        "/articles", params={"modality": "CT", "sort": "title", "limit": 1, "offset": 1}
    ).json()
    assert [a["title"] for a in second["items"]] == ["Article number 2"]
    by_code = client.get("/articles", params={"error_code": "x 100"}).json()
    assert [a["title"] for a in by_code["items"]] == ["Article number 1"]
    by_model = client.get("/articles", params={"model": "aurion-64"}).json()
    assert by_model["total"] == 2


def test_import_jsonl_reports_bad_lines_and_keeps_good_ones(client: TestClient) -> None:
    import json

    good = json.dumps(article_payload(slug="ct-imported-one"))
    missing_title = json.dumps({k: v for k, v in article_payload().items() if k != "title"})
    bad_modality = json.dumps(article_payload(slug="ct-bad", modality="PET"))
    body = "\n".join([good, "{broken json", missing_title, "", bad_modality]) + "\n"
    response = client.post(
        "/articles/import", content=body, headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["created"] == 1
    assert report["failed"] == 3
    assert [(e["line"], e["field"]) for e in report["errors"]] == [
        (2, "(line)"),
        (3, "title"),
        (5, "modality"),
    ]
    assert client.get("/articles/ct-imported-one").status_code == 200
    again = client.post("/articles/import", content=good).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 1)
    assert client.get("/articles/ct-imported-one").json()["version"] == 1
