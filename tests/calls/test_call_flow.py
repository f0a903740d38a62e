import threading

from app.calls.package_schemas import EscalationPackage
from tests.calls.conftest import Desk

SYMPTOM = "Scanner makes a loud popping sound during the scan and images have streaks, HV-417"


def _open(desk: Desk, **overrides: object) -> dict:
    body = {
        "caller_name": "Rita Radiographer",
        "callback_number": "+44 20 7946 0123",
        "serial_number": "AUR64-0042",
        "symptom": SYMPTOM,
        "urgency": "system_down",
        "patient_impact": True,
    } | overrides
    response = desk.client.post("/calls", json=body, headers=desk.as_(desk.dispatcher))
    assert response.status_code == 201, response.text
    return response.json()


def _search(desk: Desk, call_id: int, **body: object) -> dict:
    response = desk.client.post(
        f"/calls/{call_id}/search", json=body, headers=desk.as_(desk.dispatcher)
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_open_call_shows_three_owners(desk: Desk) -> None:
    call = _open(desk)
    assert call["state"] == "open"
    assert call["owners"]["current"]["id"] == desk.dispatcher_id
    assert call["owners"]["follow_up"]["id"] == desk.field_id
    assert call["owners"]["primary_engineer"]["id"] == desk.field_id
    assert call["asset"]["serial_number"] == "AUR64-0042"
    assert [h["kind"] for h in call["ownership_history"]] == ["current", "follow_up"]
    assert call["timeline"][0]["kind"] == "opened"


def test_open_call_without_scanner_or_site_gets_422(desk: Desk) -> None:
    response = desk.client.post(
        "/calls",
        json={"caller_name": "X", "urgency": "question"},
        headers=desk.as_(desk.dispatcher),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "asset_id"


def test_search_in_call_applies_scanner_filters_and_demotes_failed(desk: Desk) -> None:
    call = _open(desk)
    first = _search(desk, call["id"], query="loud bang and streaks on the images")
    assert first["filters"] == {
        "modality": "CT",
        "manufacturer": "Nordvale Medical",
        "model": "Aurion 64",
    }
    top = first["results"][0]
    assert all(r["modality"] == "CT" for r in first["results"])
    desk.client.post(
        f"/calls/{call['id']}/attempts",
        headers=desk.as_(desk.dispatcher),
        json={"article_id": top["id"], "outcome": "no_change", "note": "same"},
    )
    second = _search(desk, call["id"], query="loud bang and streaks on the images")
    ids = [r["id"] for r in second["results"]]
    assert ids[-1] == top["id"], "the failed article goes below every untried one"
    assert second["results"][-1]["tried_outcome"] == "no_change"
    assert second["results"][-1]["demoted"] is True
    assert all(not r["demoted"] for r in second["results"][:-1])


def test_escalate_incomplete_call_gets_422_listing_what_is_missing(desk: Desk) -> None:
    call = _open(desk, callback_number="")
    desk.client.post(f"/calls/{call['id']}/articles/1/open", headers=desk.as_(desk.dispatcher))
    response = desk.client.post(
        f"/calls/{call['id']}/escalate", json={"reason": "stuck"}, headers=desk.as_(desk.dispatcher)
    )
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["callback_number", "searches", "nothing_applicable", "outcome.article_1"]
    check = desk.client.get(f"/calls/{call['id']}/escalation-check").json()
    assert check["ready"] is False
    assert desk.client.get(f"/calls/{call['id']}").json()["state"] == "open"


def test_escalate_safety_event_skips_the_check(desk: Desk) -> None:
    call = _open(desk, callback_number="")
    response = desk.client.post(
        f"/calls/{call['id']}/escalate",
        headers=desk.as_(desk.dispatcher),
        json={"reason": "smoke", "safety": {"kind": "smoke", "reason": "smoke from gantry"}},
    )
    assert response.status_code == 201, response.text
    assert response.json()["package"]["safety_event"]["kind"] == "smoke"


def test_full_flow_from_open_to_draft_article(desk: Desk) -> None:
    c, d = desk.client, desk.as_(desk.dispatcher)
    call = _open(desk)
    cid = call["id"]
    first = _search(desk, cid, query="popping sound and streaks")
    _search(desk, cid, query="HV-417")
    tried = first["results"][0]
    c.post(f"/calls/{cid}/articles/{tried['id']}/open", headers=d)
    c.post(
        f"/calls/{cid}/attempts",
        headers=d,
        json={
            "article_id": tried["id"],
            "step": 1,
            "outcome": "no_change",
            "note": "warm-up done, still popping",
        },
    )
    c.post(f"/calls/{cid}/notes", headers=d, json={"text": "Department has a full list today"})
    escalated = c.post(
        f"/calls/{cid}/escalate", headers=d, json={"reason": "arcing persists after warm-up"}
    )
    assert escalated.status_code == 201, escalated.text
    esc = escalated.json()
    pkg = esc["package"]
    EscalationPackage.model_validate(pkg)
    assert pkg["call_id"] == cid
    assert pkg["caller"] == {"name": "Rita Radiographer", "callback_number": "+44 20 7946 0123"}
    assert pkg["site"]["hospital"] == "St Elsewhere"
    assert pkg["asset"]["serial_number"] == "AUR64-0042"
    assert pkg["primary_engineer"]["name"] == "Frank Field"
    assert pkg["primary_engineer"]["phone"]
    assert pkg["symptom"] == SYMPTOM
    assert pkg["error_codes"] == ["HV-417"]
    assert (pkg["urgency"], pkg["patient_impact"]) == ("system_down", True)
    assert [s["query"] for s in pkg["searches"]] == ["popping sound and streaks", "HV-417"]
    assert pkg["searches"][0]["top_results"][0]["article_id"] == tried["id"]
    assert [(a["article_id"], a["outcome"], a["step"]) for a in pkg["attempts"]] == [
        (tried["id"], "no_change", 1)
    ]
    assert pkg["already_checked"] == [
        f"{tried['title']} (step 1: {tried['steps'][0]['text']}): no change"
        " — warm-up done, still popping"
    ]
    assert tried["id"] not in [b["article_id"] for b in pkg["best_untried"]]
    assert len(pkg["best_untried"]) >= 1
    assert pkg["notes"][0]["text"] == "Department has a full list today"
    assert pkg["response_target_minutes"] == 30
    assert pkg["target"]["queue"] == "tier2"
    assert pkg["target"]["inform"]["name"] == "Frank Field"
    brief = c.get(f"/escalations/{esc['id']}/brief", headers=desk.as_(desk.engineer))
    assert brief.status_code == 200
    assert brief.headers["content-type"].startswith("text/markdown")
    for fragment in (
        "SYSTEM DOWN",
        "PATIENT IMPACT",
        "Rita Radiographer",
        "AUR64-0042",
        "HV-417",
        "Already checked",
        "still popping",
        "Frank Field",
    ):
        assert fragment in brief.text
    assert len(brief.text.splitlines()) <= 40, "one screen"

    queue = c.get("/escalations", headers=desk.as_(desk.engineer)).json()
    assert [q["escalation_id"] for q in queue] == [esc["id"]]
    accepted = c.post(f"/escalations/{esc['id']}/accept", headers=desk.as_(desk.engineer))
    assert accepted.status_code == 200, accepted.text
    after = c.get(f"/calls/{cid}").json()
    assert after["state"] == "accepted"
    assert after["owners"]["current"]["id"] == desk.engineer_id
    assert after["owners"]["follow_up"]["id"] == desk.field_id
    current = [h for h in after["ownership_history"] if h["kind"] == "current"]
    assert [(h["person_id"], h["ended_at"] is None) for h in current] == [
        (desk.dispatcher_id, False),
        (desk.engineer_id, True),
    ]
    assert c.get("/escalations", headers=desk.as_(desk.engineer)).json() == []

    no_notes = c.post(
        f"/calls/{cid}/resolve", headers=desk.as_(desk.engineer), json={"article_id": tried["id"]}
    )
    assert no_notes.status_code == 422
    resolved = c.post(
        f"/calls/{cid}/resolve",
        headers=desk.as_(desk.engineer),
        json={"notes": "Replaced HV cable.\nRan tube seasoning."},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["state"] == "resolved"
    draft = c.post(f"/calls/{cid}/draft-article", headers=desk.as_(desk.engineer))
    assert draft.status_code == 201, draft.text
    article = draft.json()["article"]
    assert article["status"] == "draft"
    assert article["issue"] == SYMPTOM
    assert (article["modality"], article["manufacturer"], article["models"]) == (
        "CT",
        "Nordvale Medical",
        ["Aurion 64"],
    )
    assert [s["text"] for s in article["steps"]] == ["Replaced HV cable.", "Ran tube seasoning."]
    assert article["source"] == f"call:{cid}"
    assert c.get(f"/calls/{cid}").json()["draft_article_id"] == article["id"]
    # the closest published articles come with it, the one it repeats marked, never itself
    similar = draft.json()["similar"]
    assert similar
    assert article["id"] not in [s["id"] for s in similar]
    assert similar[0]["slug"] == "ct-tube-arcing-popping"
    assert similar[0]["likely_duplicate"]
    kinds = [e["kind"] for e in c.get(f"/calls/{cid}").json()["timeline"]]
    for kind in (
        "opened",
        "searched",
        "article_opened",
        "step_tried",
        "note",
        "escalated",
        "accepted",
        "resolved",
        "draft_created",
    ):
        assert kind in kinds


def test_tier1_resolution_counts_as_reuse(desk: Desk) -> None:
    c, d = desk.client, desk.as_(desk.dispatcher)
    call = _open(desk)
    hit = _search(desk, call["id"], query="HV-417")["results"][0]
    c.post(
        f"/calls/{call['id']}/attempts",
        headers=d,
        json={"article_id": hit["id"], "outcome": "fixed"},
    )
    assert (
        c.post(f"/calls/{call['id']}/resolve", headers=d, json={"notes": "ok"}).status_code == 422
    )
    resolved = c.post(f"/calls/{call['id']}/resolve", headers=d, json={"article_id": hit["id"]})
    assert resolved.status_code == 200
    stats = c.get(f"/articles/{hit['id']}/stats", headers=d).json()
    assert stats == {
        "article_id": hit["id"],
        "suggested": 1,
        "opened": 1,
        "tried": 1,
        "fixed": 1,
        "fixed_tier1": 1,
        "tier1_fix_rate": 1.0,
    }


def test_illegal_transition_gets_409_with_state_and_allowed(desk: Desk) -> None:
    call = _open(desk)
    response = desk.client.post(f"/calls/{call['id']}/close", headers=desk.as_(desk.dispatcher))
    assert response.status_code == 409
    assert response.json()["current_state"] == "open"
    assert response.json()["allowed"] == ["cancelled", "escalated", "resolved"]


def _ready_call(desk: Desk) -> int:
    """A call that may be escalated: searched, and the top fix tried without success."""
    call = _open(desk)
    found = _search(desk, call["id"], query="popping")
    tried = desk.client.post(
        f"/calls/{call['id']}/attempts",
        json={"article_id": found["results"][0]["id"], "outcome": "no_change"},
        headers=desk.as_(desk.dispatcher),
    )
    assert tried.status_code == 201, tried.text
    return call["id"]


def test_retried_escalation_returns_the_same_one(desk: Desk) -> None:
    cid = _ready_call(desk)
    headers = desk.as_(desk.dispatcher) | {"Idempotency-Key": "esc-123"}
    first = desk.client.post(f"/calls/{cid}/escalate", json={"reason": "x"}, headers=headers)
    again = desk.client.post(f"/calls/{cid}/escalate", json={"reason": "x"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert desk.client.get(f"/calls/{cid}").json()["escalation_ids"] == [first.json()["id"]]
    other_key = desk.as_(desk.dispatcher) | {"Idempotency-Key": "esc-456"}
    assert (
        desk.client.post(
            f"/calls/{cid}/escalate", json={"reason": "x"}, headers=other_key
        ).status_code
        == 409
    )


def test_two_concurrent_accepts_one_wins(desk: Desk) -> None:
    cid = _ready_call(desk)
    esc = desk.client.post(
        f"/calls/{cid}/escalate", json={"reason": "x"}, headers=desk.as_(desk.dispatcher)
    ).json()
    barrier = threading.Barrier(2)
    codes: dict[str, int] = {}

    def accept(name: str, key: str) -> None:
        barrier.wait()
        codes[name] = desk.client.post(
            f"/escalations/{esc['id']}/accept", headers=desk.as_(key)
        ).status_code

    threads = [
        threading.Thread(target=accept, args=(n, k))
        for n, k in (("a", desk.engineer), ("b", desk.engineer2))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes.values()) == [200, 409]
    winner = desk.engineer_id if codes["a"] == 200 else desk.engineer2_id
    call = desk.client.get(f"/calls/{cid}").json()
    assert call["owners"]["current"]["id"] == winner
    assert [e["kind"] for e in call["timeline"]].count("accepted") == 1


def test_decline_returns_escalation_to_the_queue(desk: Desk) -> None:
    cid = _ready_call(desk)
    esc = desk.client.post(
        f"/calls/{cid}/escalate",
        headers=desk.as_(desk.dispatcher),
        json={"reason": "x", "engineer_id": desk.engineer_id},
    ).json()
    blocked = desk.client.post(f"/escalations/{esc['id']}/accept", headers=desk.as_(desk.engineer2))
    assert blocked.status_code == 403
    not_theirs = desk.client.post(
        f"/escalations/{esc['id']}/decline",
        headers=desk.as_(desk.engineer2),
        json={"reason": "not mine"},
    )
    assert not_theirs.status_code == 403
    declined = desk.client.post(
        f"/escalations/{esc['id']}/decline",
        headers=desk.as_(desk.engineer),
        json={"reason": "on leave"},
    )
    assert declined.status_code == 200
    assert declined.json()["target_engineer_id"] is None
    assert (
        desk.client.post(
            f"/escalations/{esc['id']}/accept", headers=desk.as_(desk.engineer2)
        ).status_code
        == 200
    )


def test_queue_orders_by_urgency_then_age(desk: Desk) -> None:
    ids = []
    for urgency in ("question", "system_down", "degraded"):
        call = _open(desk, urgency=urgency)
        _search(desk, call["id"], query="popping")
        esc = desk.client.post(
            f"/calls/{call['id']}/escalate",
            json={"reason": urgency, "nothing_applicable": "no suggestion fits"},
            headers=desk.as_(desk.dispatcher),
        ).json()
        ids.append((urgency, esc["id"]))
    queue = desk.client.get("/escalations", headers=desk.as_(desk.engineer)).json()
    assert [q["urgency"] for q in queue] == ["system_down", "degraded", "question"]
    assert queue[0]["minutes_left"] <= 30


def test_package_is_refused_to_roles_without_escalations_read(desk: Desk) -> None:
    cid = _ready_call(desk)
    esc = desk.client.post(
        f"/calls/{cid}/escalate", json={"reason": "x"}, headers=desk.as_(desk.dispatcher)
    ).json()
    refused = desk.client.get(f"/escalations/{esc['id']}", headers=desk.as_(desk.dispatcher))
    assert refused.status_code == 403
    assert (
        desk.client.get(f"/escalations/{esc['id']}", headers=desk.as_(desk.field)).status_code
        == 200
    )


def test_escalation_schema_doc_matches_code() -> None:
    from scripts.escalation_schema import DOC, schema_text

    assert DOC.read_text() == schema_text(), "regenerate: python -m scripts.escalation_schema"


def test_follow_up_handover_is_kept_as_an_interval(desk: Desk) -> None:
    call = _open(desk)
    response = desk.client.post(
        f"/calls/{call['id']}/follow-up",
        headers=desk.as_(desk.dispatcher),
        json={"person_id": desk.engineer_id, "reason": "field engineer on leave"},
    )
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["owners"]["follow_up"]["id"] == desk.engineer_id
    assert after["owners"]["primary_engineer"]["id"] == desk.field_id
    follow = [h for h in after["ownership_history"] if h["kind"] == "follow_up"]
    assert [(h["person_id"], h["ended_at"] is None, h["reason"]) for h in follow] == [
        (desk.field_id, False, "primary engineer of the scanner"),
        (desk.engineer_id, True, "field engineer on leave"),
    ]


def test_escalation_preview_shows_the_brief_and_saves_nothing(desk: Desk) -> None:
    call = _open(desk)
    preview = desk.client.post(
        f"/calls/{call['id']}/escalation-preview",
        json={"reason": "persists"},
        headers=desk.as_(desk.dispatcher),
    )
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["ready"] is False
    assert [m["field"] for m in body["missing"]] == ["searches", "nothing_applicable"]
    assert body["package"]["escalation_id"] == 0
    assert "Rita Radiographer" in body["brief"]
    after = desk.client.get(f"/calls/{call['id']}").json()
    assert after["state"] == "open"
    assert after["escalation_ids"] == []
    _search(desk, call["id"], query="popping")
    body = {"reason": "persists", "nothing_applicable": "the caller cannot reach the console"}
    ready = desk.client.post(
        f"/calls/{call['id']}/escalation-preview", json=body, headers=desk.as_(desk.dispatcher)
    )
    sent = desk.client.post(
        f"/calls/{call['id']}/escalate", json=body, headers=desk.as_(desk.dispatcher)
    ).json()
    assert ready.json()["ready"] is True
    brief = desk.client.get(f"/escalations/{sent['id']}/brief", headers=desk.as_(desk.engineer))

    def strip(text: str) -> list[str]:
        # the due time and time-on-call move between preview and send
        moving = ("Respond by", "Escalated by")
        return [ln for ln in text.splitlines() if not ln.startswith(moving)]

    assert strip(ready.json()["brief"]) == strip(brief.text), "the preview is what tier 2 sees"
