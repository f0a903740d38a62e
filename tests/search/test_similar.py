"""Search before you create: the articles like one being written, by API and in the
editor, before anything is saved."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.calls.conftest import Desk
from tests.web.test_knowledge_pages import _engineer

ARCING = "ct-tube-arcing-popping"
REWORDED = {
    "title": "Loud crack from the gantry, then streaks in the pictures",
    "issue": "mid scan the CT banged like a gunshot and the slices have white lines",
}


def _similar(client: TestClient, **body: object) -> dict:
    found = client.post("/articles/similar", json=body)
    assert found.status_code == 200, found.text
    return found.json()


def test_a_rewording_of_an_article_is_its_likely_duplicate(desk: Desk) -> None:
    found = _similar(desk.client, **REWORDED)
    first = found["results"][0]
    assert (first["slug"], first["likely_duplicate"]) == (ARCING, True)
    assert first["score"] >= found["threshold"]
    assert [r["likely_duplicate"] for r in found["results"][1:]] == [False] * (
        len(found["results"]) - 1
    )
    with_code = _similar(desk.client, **REWORDED, error_codes=["hv 417"])
    assert with_code["results"][0]["shared_error_codes"] == ["HV-417"]
    itself = _similar(desk.client, **REWORDED, exclude_id=first["id"])
    assert ARCING not in [r["slug"] for r in itself["results"]]


def test_another_fault_has_no_likely_duplicate(desk: Desk) -> None:
    found = _similar(
        desk.client,
        title="Coffee machine in the staff room leaks",
        issue="water drips from under the coffee machine",
    )
    assert found["results"]
    assert not any(r["likely_duplicate"] for r in found["results"])


def test_only_article_writers_ask_and_the_title_is_needed(desk: Desk) -> None:
    refused = desk.client.post(
        "/articles/similar", json=REWORDED, headers=desk.as_(desk.dispatcher)
    )
    assert refused.status_code == 403, refused.text
    empty = desk.client.post("/articles/similar", json={"title": "", "issue": "x"})
    assert empty.status_code == 422
    assert [e["field"] for e in empty.json()["errors"]] == ["title"]


def test_the_editor_shows_likely_duplicates_before_saving(seeded: TestClient) -> None:
    csrf = _engineer(seeded)
    form = {
        "csrf_token": csrf,
        **REWORDED,
        "modality": "CT",
        "steps-0-text": "Run the tube warm-up.",
    }
    before = seeded.get("/articles", params={"status": "draft"}).json()["total"]
    shown = seeded.post("/ui/articles", data=form, follow_redirects=False)
    assert shown.status_code == 200, shown.text
    assert 'data-testid="similar"' in shown.text
    assert "Popping sound during scan" in shown.text  # the arcing article's title
    assert "Save draft anyway" in shown.text
    assert seeded.get("/articles", params={"status": "draft"}).json()["total"] == before
    # the form comes back as typed, and saving again saves
    assert REWORDED["issue"] in shown.text
    saved = seeded.post(
        "/ui/articles", data=form | {"checked_similar": "1"}, follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    assert seeded.get("/articles", params={"status": "draft"}).json()["total"] == before + 1


def test_a_new_fault_is_saved_at_once(seeded: TestClient) -> None:
    csrf = _engineer(seeded)
    form = {
        "csrf_token": csrf,
        "title": "Staff room coffee machine leaks",
        "issue": "water under the coffee machine",
        "modality": "CT",
        "steps-0-text": "Call facilities.",
    }
    saved = seeded.post("/ui/articles", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
