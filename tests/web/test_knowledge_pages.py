"""The knowledge screens over HTTP (no browser): forms, errors, conflicts, roles, gaps."""

from __future__ import annotations

import re
from html import unescape

from fastapi.testclient import TestClient

from app.web.knowledge import side_by_side
from tests.conftest import article_payload, key_for

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _sign_in(client: TestClient, key: str) -> str:
    """Sign in through the form; returns the session's form token."""
    login = client.get("/ui/login")
    token = CSRF.search(login.text)
    assert token, login.text
    signed = client.post(
        "/ui/login",
        data={"api_key": key, "csrf_token": token[1], "next": "/ui/articles"},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    page = client.get("/ui/articles")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found
    return found[1]


def _engineer(client: TestClient) -> str:
    _, key = key_for(client, "engineer", name="Edda Engineer")
    return _sign_in(client, key)


def _form(article: dict[str, object], csrf: str, **changes: str) -> dict[str, str]:
    """The edit form as a browser posts it for this article, with some fields changed."""
    form = {
        "csrf_token": csrf,
        "version": str(article["version"]),
        "title": str(article["title"]),
        "issue": str(article["issue"]),
        "modality": str(article["modality"]),
        "manufacturer": str(article["manufacturer"] or ""),
        "cause": str(article["cause"]),
        "escalate_when": str(article["escalate_when"]),
        "reported_as": "\n".join(article.get("reported_as") or []),  # type: ignore[call-overload]
    }
    for name in ("models", "software_versions", "error_codes", "tags"):
        form[name] = ", ".join(article[name])  # type: ignore[call-overload]
    steps: list[dict[str, object]] = article["steps"]  # type: ignore[assignment]
    for i, step in enumerate(steps):
        form[f"steps-{i}-text"] = str(step["text"])
        form[f"steps-{i}-restriction"] = str(step.get("restriction") or "")
        if not step["tier1_allowed"]:
            form[f"steps-{i}-tier2"] = "1"
    for i in range(len(steps), len(steps) + 2):  # the two empty rows the editor adds
        form[f"steps-{i}-text"] = ""
        form[f"steps-{i}-restriction"] = ""
    return form | changes


def _draft(client: TestClient) -> dict[str, object]:
    created = client.post("/articles", json=article_payload(status="draft"))
    assert created.status_code == 201, created.text
    article: dict[str, object] = created.json()
    return article


def test_show_validation_error_next_to_the_field_keeping_the_input(seeded: TestClient) -> None:
    csrf = _engineer(seeded)
    article = _draft(seeded)
    form = _form(article, csrf, title="ab", cause="Bearing grease dried out")
    response = seeded.post(f"/ui/articles/{article['id']}/edit", data=form)
    assert response.status_code == 422
    html = response.text
    assert re.search(r'id="title"[^>]*aria-invalid="true" aria-describedby="title-error"', html)
    assert re.search(r'class="field-error" id="title-error">[^<]*at least 3 characters', html)
    assert 'value="ab"' in html
    assert "Bearing grease dried out" in html
    assert seeded.get(f"/articles/{article['id']}").json()["version"] == 1


def test_show_step_error_on_the_step_row(seeded: TestClient) -> None:
    csrf = _engineer(seeded)
    article = _draft(seeded)
    form = _form(article, csrf, **{"steps-1-text": "", "steps-1-restriction": "covers off"})
    response = seeded.post(f"/ui/articles/{article['id']}/edit", data=form)
    assert response.status_code == 422
    # marked for the steps editor, which renumbers the message with its row
    assert 'id="steps-1-text-error" data-error-for="text"' in response.text
    textarea = r'id="steps-1-text"[^>]*aria-invalid="true" aria-describedby="steps-1-text-error"'
    assert re.search(textarea, response.text)
    assert "write the step" in response.text


def test_save_other_phrasings_one_per_line_and_show_them(seeded: TestClient) -> None:
    csrf = _engineer(seeded)
    article = _draft(seeded)
    lines = "- the bed judders, then stops\r\n\r\ntable goes halfway, then nothing, again"
    saved = seeded.post(
        f"/ui/articles/{article['id']}/edit",
        data=_form(article, csrf, reported_as=lines),
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    stored = seeded.get(f"/articles/{article['id']}").json()
    assert stored["reported_as"] == [
        "the bed judders, then stops",
        "table goes halfway, then nothing, again",
    ], "one phrasing per line, commas kept, list marks and blank lines dropped"
    shown = seeded.get(f"/ui/articles/{article['id']}").text
    assert "Also reported as" in shown
    assert "the bed judders, then stops" in shown
    bad = seeded.post(
        f"/ui/articles/{article['id']}/edit",
        data=_form(stored, csrf, reported_as="fine phrasing here\nno"),
    )
    assert bad.status_code == 422
    assert re.search(r'class="field-error" id="reported_as-error">phrasing 2:', bad.text)
    assert seeded.get(f"/articles/{article['id']}").json()["version"] == stored["version"]


def test_save_edit_ignoring_empty_step_rows(seeded: TestClient) -> None:
    csrf = _engineer(seeded)
    article = _draft(seeded)
    form = _form(article, csrf, **{"steps-3-text": "Power-cycle the gantry.", "tags": "a, , b"})
    saved = seeded.post(f"/ui/articles/{article['id']}/edit", data=form, follow_redirects=False)
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("?done=saved")
    now = seeded.get(f"/articles/{article['id']}").json()
    assert now["version"] == 2
    assert [s["text"] for s in now["steps"]] == [
        "Stop scanning and note the error on the console.",
        "Inspect the bearing.",
        "Power-cycle the gantry.",
    ]
    assert now["steps"][1]["tier1_allowed"] is False
    assert now["tags"] == ["a", "b"]


def test_refuse_stale_edit_with_conflict_page_saving_nothing(seeded: TestClient) -> None:
    csrf = _engineer(seeded)
    article = _draft(seeded)
    stale = _form(article, csrf, cause="Bearing grease dried out")
    theirs = seeded.patch(
        f"/articles/{article['id']}",
        json={"version": 1, "title": "Gantry grinds and stops during rotation"},
    )
    assert theirs.status_code == 200
    response = seeded.post(f"/ui/articles/{article['id']}/edit", data=stale)
    assert response.status_code == 409
    html = unescape(response.text)
    assert "has not been saved" in html
    assert "Saved now (version 2)" in html
    assert "Your edit" in html
    # the form is re-based: their title (only they changed it) and my cause, version 2
    assert 'name="version" value="2"' in html
    assert 'value="Gantry grinds and stops during rotation"' in html
    assert "Bearing grease dried out</textarea>" in html
    now = seeded.get(f"/articles/{article['id']}").json()
    assert (now["version"], now["cause"]) == (2, "Worn gantry bearing.")


def test_save_unchanged_form_without_a_new_version(seeded: TestClient) -> None:
    csrf = _engineer(seeded)
    article = _draft(seeded)
    saved = seeded.post(
        f"/ui/articles/{article['id']}/edit", data=_form(article, csrf), follow_redirects=False
    )
    assert saved.headers["location"].endswith("?done=unchanged")
    assert seeded.get(f"/articles/{article['id']}").json()["version"] == 1


def test_create_draft_from_the_new_article_form(seeded: TestClient) -> None:
    csrf = _engineer(seeded)
    form = {
        "csrf_token": csrf,
        "title": "Injector will not arm",
        "issue": "The contrast injector stays grey and will not arm.",
        "modality": "CT",
        "error_codes": "INJ-12, INJ-13",
        "steps-0-text": "Check the injector cable is seated.",
        "steps-1-text": "Replace the arming board.",
        "steps-1-tier2": "1",
        "steps-1-restriction": "opens the injector head",
        "steps-2-text": "",
    }
    created = seeded.post("/ui/articles", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text
    page = seeded.get(created.headers["location"])
    assert "Draft created" in page.text
    assert "⚠ Tier 2 only (opens the injector head):" in page.text
    article_id = created.headers["location"].split("/ui/articles/")[1].split("?")[0]
    stored = seeded.get(f"/articles/{article_id}").json()
    assert stored["status"] == "draft"
    assert stored["error_codes"] == ["INJ-12", "INJ-13"]


def test_new_article_without_modality_asks_for_it(seeded: TestClient) -> None:
    csrf = _engineer(seeded)
    form = {"csrf_token": csrf, "title": "Thing", "issue": "It broke", "steps-0-text": "Look"}
    response = seeded.post("/ui/articles", data=form)
    assert response.status_code == 422
    assert 'id="modality-error">choose the modality' in response.text


def test_refuse_form_post_without_the_csrf_token(seeded: TestClient) -> None:
    _engineer(seeded)
    article = _draft(seeded)
    response = seeded.post(f"/ui/articles/{article['id']}/publish", data={"version": "1"})
    assert response.status_code == 403
    assert seeded.get(f"/articles/{article['id']}").json()["status"] == "draft"


def test_refuse_knowledge_screens_to_field_engineer(seeded: TestClient) -> None:
    _, key = key_for(seeded, "field_engineer", name="Fran Field")
    login = seeded.get("/ui/login")
    token = CSRF.search(login.text)
    assert token
    seeded.post("/ui/login", data={"api_key": key, "csrf_token": token[1]})
    for url in ("/ui/articles", "/ui/articles/1", "/ui/gaps", "/ui/articles/1/versions"):
        response = seeded.get(url)
        assert response.status_code == 403, url
        assert "articles:write" in response.text


def test_filter_articles_by_text_status_and_modality(seeded: TestClient) -> None:
    _engineer(seeded)
    _draft(seeded)
    drafts = seeded.get("/ui/articles", params={"status": "draft", "modality": "CT"})
    assert "1 article" in drafts.text
    assert "Gantry rotation stops with grinding noise" in drafts.text
    page = seeded.get("/ui/articles", params={"q": "popping", "modality": "CT"})
    assert "Popping sound during scan" in page.text
    assert "Gantry rotation" not in page.text
    everything = seeded.get("/ui/articles", params={"page": 2})
    assert "page 2 of 7" in everything.text
    assert 'rel="prev"' in everything.text


def test_prefill_new_article_from_query_parameters(seeded: TestClient) -> None:
    _engineer(seeded)
    page = seeded.get(
        "/ui/articles/new", params={"title": "Coffee on the console", "modality": "MR"}
    )
    assert 'value="Coffee on the console"' in page.text
    assert '<option value="MR" selected>' in page.text


def test_restore_refuses_a_stale_history_page(seeded: TestClient) -> None:
    csrf = _engineer(seeded)
    article = _draft(seeded)
    seeded.patch(f"/articles/{article['id']}", json={"version": 1, "cause": "Dry bearing."})
    response = seeded.post(
        f"/ui/articles/{article['id']}/versions/1/restore",
        data={"csrf_token": csrf, "current": "1"},
    )
    assert response.status_code == 409
    assert "Nothing was restored" in response.text
    assert seeded.get(f"/articles/{article['id']}").json()["version"] == 2


def test_list_escalated_call_resolved_without_article_as_gap(seeded: TestClient) -> None:
    _, dispatcher = key_for(seeded, "dispatcher", name="Dora Dispatch")
    _, engineer = key_for(seeded, "engineer", name="Tom Tier2")
    field_id, _ = key_for(seeded, "field_engineer", name="Fred Field")
    site = seeded.post(
        "/sites",
        json={"hospital": "Fen Hospital", "department": "CT", "main_phone": "+44 20 7946 0100"},
    ).json()
    asset = seeded.post(
        "/assets",
        json={
            "site_id": site["id"],
            "modality": "CT",
            "manufacturer": "Nordvale Medical",
            "model": "Aurion 64",
            "serial_number": "NV-CT-GAP01",
            "room": "CT 1",
            "primary_engineer_id": field_id,
        },
    ).json()
    d, e = {"X-API-Key": dispatcher}, {"X-API-Key": engineer}
    call = seeded.post(
        "/calls",
        headers=d,
        json={
            "caller_name": "Ann",
            "callback_number": "+44 20 7946 0123",
            "asset_id": asset["id"],
            "symptom": "Table rattles when raised",
            "urgency": "degraded",
        },
    ).json()
    query = "the scanner table makes a rattling noise when it goes up"
    searched = seeded.post(f"/calls/{call['id']}/search", headers=d, json={"query": query})
    assert searched.status_code == 200, searched.text
    escalation = seeded.post(
        f"/calls/{call['id']}/escalate",
        headers=d,
        json={"reason": "odd", "nothing_applicable": "no suggestion is about the table"},
    )
    assert escalation.status_code == 201, escalation.text
    seeded.post(f"/escalations/{escalation.json()['id']}/accept", headers=e)
    resolved = seeded.post(
        f"/calls/{call['id']}/resolve", headers=e, json={"notes": "Tightened a panel screw"}
    )
    assert resolved.status_code == 200, resolved.text

    _engineer(seeded)
    page = unescape(seeded.get("/ui/gaps").text)
    row = re.search(rf"<tr>(?:(?!</tr>).)*{re.escape(query)}(?:(?!</tr>).)*</tr>", page, re.S)
    assert row, page
    assert "escalated, then resolved without a fixing article" in row[0]
    assert f'href="/ui/calls/{call["id"]}"' in row[0]
    assert "/ui/articles/new?title=The+scanner+table+makes" in row[0]


def test_mark_changed_words_within_a_changed_line() -> None:
    rows = side_by_side("Check the fuse\nCall tier 2", "Check the breaker\nCall tier 2\nWait")
    first_old, first_new = rows[0]
    assert (first_old.kind, first_new.kind) == ("del", "add")
    assert ("fuse", True) in first_old.parts
    assert ("breaker", True) in first_new.parts
    assert ("Check the ", False) in first_old.parts
    assert rows[1][0].kind == rows[1][1].kind == "same"
    assert (rows[2][0].kind, rows[2][1].kind) == ("empty", "add")


def test_refuse_publishing_a_version_saved_over_meanwhile(seeded: TestClient) -> None:
    csrf = _engineer(seeded)
    article = _draft(seeded)
    seeded.patch(f"/articles/{article['id']}", json={"version": 1, "cause": "Dry bearing."})
    response = seeded.post(
        f"/ui/articles/{article['id']}/publish", data={"csrf_token": csrf, "version": "1"}
    )
    assert response.status_code == 409
    assert 'class="flash error"' in response.text
    assert "is at version 2" in response.text
    assert seeded.get(f"/articles/{article['id']}").json()["status"] == "draft"
    published = seeded.post(
        f"/ui/articles/{article['id']}/publish",
        data={"csrf_token": csrf, "version": "2"},
        follow_redirects=False,
    )
    assert published.headers["location"].endswith("?done=published")
    assert seeded.get(f"/articles/{article['id']}").json()["status"] == "published"
