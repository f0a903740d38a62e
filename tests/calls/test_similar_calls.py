"""Similar past calls, through the API on both databases with the real model: resolved
calls like the new one, the same scanner model first, each with what fixed it; open and
reopened calls are no past calls; the escalation package carries the top three; a call
whose vector is missing is encoded again at start."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from app.calls.models import CallVector
from app.db import transaction
from app.feed import service as feed_service
from tests.calls.conftest import Desk
from tests.calls.test_call_flow import _open
from tests.calls.test_package_history import _escalated
from tests.conftest import AppFactory

POPPING = "Loud popping sound from the gantry during the scan, then streaks across the images"
NEW_POPPING = "CT makes a popping noise mid scan and the pictures have streaks"
TABLE = "Patient table will not move into the bore, stuck at the home position"
COIL = "Knee coil not recognised by the MR, error COIL-12 on the console"
CALLER = {"caller_name": "Rita Radiographer", "callback_number": "+44 20 7946 0123"}


def _scanner(desk: Desk, modality: str, maker: str, model: str, serial: str) -> str:
    made = desk.client.post(
        "/assets",
        json={
            "site_id": desk.site_id,
            "modality": modality,
            "manufacturer": maker,
            "model": model,
            "serial_number": serial,
            "primary_engineer_id": desk.field_id,
        },
    )
    assert made.status_code == 201, made.text
    return serial


def _resolved(desk: Desk, symptom: str, serial: str = "AUR64-0042", **how: object) -> int:
    """A call on the scanner, resolved at tier 1 with `how` (an article, or a reason)."""
    call = _open(desk, symptom=symptom, serial_number=serial, **CALLER)["id"]
    done = desk.client.post(
        f"/calls/{call}/resolve",
        json=how or {"reason": "fixed_other_means"},
        headers=desk.as_(desk.dispatcher),
    )
    assert done.status_code == 200, done.text
    return int(call)


def _similar(desk: Desk, call_id: int, **params: object) -> list[dict[str, Any]]:
    answer = desk.client.get(
        f"/calls/{call_id}/similar", params=params, headers=desk.as_(desk.dispatcher)
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


def _settled(client: TestClient) -> None:
    """Wait until this process has applied every change in the feed."""
    app: Any = client.app
    with app.state.sessions() as session:
        end = feed_service.latest(session=session)
    assert app.state.feed.wait_for(end, 10), "the feed was not applied within 10 s"


def _article_id(desk: Desk, slug: str) -> int:
    return int(desk.client.get(f"/articles/{slug}").json()["id"])


def test_a_resolved_call_on_the_same_model_comes_first_with_what_fixed_it(desk: Desk) -> None:
    other_ct = _scanner(desk, "CT", "Helix Imaging", "HX-Scan 32", "HX-CT-32007")
    mr = _scanner(desk, "MR", "Nordvale Medical", "Magnara 1.5T", "NV-MR-15220")
    arcing = _article_id(desk, "ct-tube-arcing-popping")
    # the same words on another CT model, resolved first: as similar, and the older id
    elsewhere = _resolved(desk, POPPING, other_ct, reason="fixed_other_means")
    same_model = _resolved(desk, POPPING, article_id=arcing)
    unrelated_here = _resolved(desk, TABLE)
    unrelated_mr = _resolved(desk, COIL, mr)
    still_open = _open(desk, symptom=POPPING, **CALLER)["id"]
    new = _open(desk, symptom=NEW_POPPING, **CALLER)["id"]

    found = _similar(desk, new)

    assert [c["id"] for c in found] == [same_model, elsewhere]
    first, second = found
    assert first["similarity"] == second["similarity"] >= 0.4
    assert (first["ring"], second["ring"]) == ("same model", "same modality")
    assert first["scanner"] == {
        "modality": "CT",
        "manufacturer": "Nordvale Medical",
        "model": "Aurion 64",
        "site": "St Elsewhere",
    }
    assert first["symptom"] == POPPING
    assert first["fix"]["article_id"] == arcing
    assert first["fix"]["slug"] == "ct-tube-arcing-popping"
    assert first["fix"]["title"]
    assert second["fix"]["article_id"] is None
    assert second["fix"]["resolution_reason"] == "fixed_other_means"
    assert first["opened_at"] <= first["resolved_at"]
    ids = {c["id"] for c in found}
    assert not ids & {unrelated_here, unrelated_mr, still_open}
    # what a dispatcher needs, no caller's contact data
    text = str(found)
    assert "caller" not in text
    assert "Rita" not in text
    assert "7946 0123" not in text
    # never the call itself; an unrelated call has none like it
    assert same_model not in {c["id"] for c in _similar(desk, same_model)}
    assert _similar(desk, unrelated_mr) == []
    assert len(_similar(desk, new, limit=1)) == 1


def test_a_reopened_call_drops_out_until_it_is_resolved_again(desk: Desk) -> None:
    d = desk.as_(desk.dispatcher)
    past = _resolved(desk, POPPING)
    new = _open(desk, symptom=NEW_POPPING, **CALLER)["id"]
    assert [c["id"] for c in _similar(desk, new)] == [past]

    reopened = desk.client.post(f"/calls/{past}/reopen", json={"reason": "back again"}, headers=d)
    assert reopened.status_code == 200, reopened.text
    assert _similar(desk, new) == []
    _settled(desk.client)
    app: Any = desk.client.app
    assert past not in app.state.index.cases
    with app.state.sessions() as session:
        assert session.get(CallVector, past) is None

    again = desk.client.post(f"/calls/{past}/resolve", json={"reason": "no_fault_found"}, headers=d)
    assert again.status_code == 200, again.text
    assert [c["id"] for c in _similar(desk, new)] == [past]


def test_the_escalation_package_carries_the_top_three(desk: Desk) -> None:
    arcing = _article_id(desk, "ct-tube-arcing-popping")
    like = [
        _resolved(desk, POPPING, article_id=arcing),
        _resolved(desk, "Popping sound from the CT gantry and streaks on the images"),
        _resolved(desk, "A bang during the scan, then streak artefacts across the images"),
        _resolved(desk, "Loud pops mid scan, lines across the pictures"),
    ]
    call = _open(desk, symptom=NEW_POPPING, **CALLER)
    expected = [c["id"] for c in _similar(desk, call["id"])]
    assert len(expected) == 3
    assert set(expected) <= set(like)

    pkg = _escalated(desk, call["id"])["package"]

    assert [c["id"] for c in pkg["similar_calls"]] == expected
    fixes = {c["id"]: c["fix"] for c in pkg["similar_calls"]}
    assert all(f["slug"] or f["resolution_reason"] for f in fixes.values())
    if like[0] in fixes:
        assert fixes[like[0]]["slug"] == "ct-tube-arcing-popping"
    brief = desk.client.get(
        f"/escalations/{_escalation_id(desk, call['id'])}/brief", headers=desk.as_(desk.engineer)
    ).text
    assert "## Similar past calls" in brief
    assert f"call {expected[0]} (same model: Nordvale Medical Aurion 64" in brief


def _escalation_id(desk: Desk, call_id: int) -> int:
    return int(desk.client.get(f"/calls/{call_id}").json()["escalation_ids"][-1])


def test_unknown_call_bad_limit_and_no_access_are_refused(desk: Desk) -> None:
    call = _open(desk, **CALLER)["id"]
    d = desk.as_(desk.dispatcher)
    assert desk.client.get("/calls/999999/similar", headers=d).status_code == 404
    for bad in ("0", "11", "three"):
        refused = desk.client.get(f"/calls/{call}/similar?limit={bad}", headers=d)
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in refused.json()["errors"]] == ["limit"]
    client = desk.client.post("/clients", json={"name": "Search only", "scopes": ["search"]})
    key = desk.client.post("/keys", json={"name": "k", "client_id": client.json()["id"]})
    outsider = {"X-API-Key": key.json()["key"]}
    assert desk.client.get(f"/calls/{call}/similar", headers=outsider).status_code == 403
    # every role that reads calls may ask
    for key in (desk.engineer, desk.field):
        assert desk.client.get(f"/calls/{call}/similar", headers=desk.as_(key)).status_code == 200


def test_a_resolved_call_without_a_vector_is_encoded_again_at_start(
    desk: Desk, make_client: AppFactory, database_url: str
) -> None:
    past = _resolved(desk, POPPING)
    app: Any = desk.client.app
    with transaction(app.state.sessions) as session:
        stored = session.get(CallVector, past)
        assert stored is not None
        assert stored.encoder == "all-MiniLM-L6-v2"
        session.execute(delete(CallVector).where(CallVector.call_id == past))
    desk.client.__exit__(None, None, None)

    again = make_client(database_url)
    restarted: Any = again.app
    assert restarted.state.past_calls.done.wait(60), "the start-up encoding did not finish"
    with restarted.state.sessions() as session:
        found = session.scalars(select(CallVector.call_id)).all()
    assert found == [past]
    d = desk.as_(desk.dispatcher)
    body = {"symptom": NEW_POPPING, "serial_number": "AUR64-0042", "urgency": "degraded"}
    new = again.post("/calls", json=body | CALLER, headers=d)
    assert new.status_code == 201, new.text
    answer = again.get(f"/calls/{new.json()['id']}/similar", headers=d)
    assert [c["id"] for c in answer.json()] == [past]
