"""What tier 2 gets beyond the symptom: the caller's details, the words of each tried
step, the scanner's recent calls; and a draft captured once from a call."""

from __future__ import annotations

from tests.calls.conftest import Desk
from tests.calls.test_call_flow import _open, _search


def _escalated(desk: Desk, call_id: int) -> dict:
    d = desk.as_(desk.dispatcher)
    found = _search(desk, call_id, query="popping")
    article = found["results"][0]
    desk.client.post(
        f"/calls/{call_id}/attempts",
        json={"article_id": article["id"], "step": 1, "outcome": "no_change"},
        headers=d,
    )
    sent = desk.client.post(f"/calls/{call_id}/escalate", json={"reason": "persists"}, headers=d)
    assert sent.status_code == 201, sent.text
    return dict(sent.json(), first_step=article["steps"][0]["text"])


def test_the_package_and_brief_carry_details_steps_and_the_scanners_history(
    desk: Desk,
) -> None:
    d = desk.as_(desk.dispatcher)
    earlier = [_open(desk, symptom=f"earlier fault {n}") for n in range(2)]
    desk.client.post(
        f"/calls/{earlier[0]['id']}/resolve", json={"reason": "no_fault_found"}, headers=d
    )
    call = _open(
        desk,
        software_version="VA48 SP2",
        screen_message="HV ARC 417 then tube cooling",
        patient_on_table=True,
    )
    esc = _escalated(desk, call["id"])
    pkg = esc["package"]
    assert pkg["schema_version"] == 5
    assert pkg["details"]["screen_message"] == "HV ARC 417 then tube cooling"
    assert pkg["attempts"][0]["step_text"] == esc["first_step"]
    assert [c["id"] for c in pkg["scanner_history"]] == [e["id"] for e in reversed(earlier)]
    assert pkg["scanner_history"][1]["resolution_reason"] == "no_fault_found"
    assert pkg["repeat_fault"] is True
    brief = desk.client.get(f"/escalations/{esc['id']}/brief", headers=desk.as_(desk.engineer))
    text = brief.text
    assert "SW VA48 SP2" in text
    assert "**The screen says:** HV ARC 417 then tube cooling" in text
    assert "PATIENT ON THE TABLE" in text
    assert f"(step 1: {esc['first_step']})" in text
    assert "REPEAT FAULT" in text
    assert "no_fault_found" in text
    shown = desk.client.get(f"/calls/{call['id']}").json()
    assert shown["repeat_fault"] is True
    assert len(shown["scanner_history"]) == 2


def test_one_earlier_call_is_history_but_not_a_repeat_fault(desk: Desk) -> None:
    _open(desk, symptom="earlier")
    call = _open(desk)
    shown = desk.client.get(f"/calls/{call['id']}").json()
    assert [c["symptom"] for c in shown["scanner_history"]] == ["earlier"]
    assert shown["repeat_fault"] is False


def test_a_draft_from_tier2_notes_is_tier2_only_and_captured_once(desk: Desk) -> None:
    call = _open(desk)
    esc = _escalated(desk, call["id"])
    e = desk.as_(desk.engineer)
    desk.client.post(f"/escalations/{esc['id']}/accept", headers=e)
    notes = "Swap the HV cable at the tube end\nRun a tube warm-up"
    desk.client.post(f"/calls/{call['id']}/resolve", json={"notes": notes}, headers=e)
    first = desk.client.post(f"/calls/{call['id']}/draft-article", headers=e)
    assert first.status_code == 201, first.text
    steps = first.json()["article"]["steps"]
    assert [s["text"] for s in steps] == notes.splitlines()
    assert all(s["tier1_allowed"] is False and s["restriction"] for s in steps)
    again = desk.client.post(f"/calls/{call['id']}/draft-article", headers=e)
    assert again.status_code == 200
    assert again.json()["article"]["id"] == first.json()["article"]["id"]
    drafts = desk.client.get("/articles", params={"status": "draft"}).json()
    assert drafts["total"] == 1
