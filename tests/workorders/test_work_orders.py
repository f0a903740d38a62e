from typing import Any

from sqlalchemy import select

from app.webhooks.models import OutboxEvent
from tests.calls.conftest import Desk
from tests.calls.test_call_flow import _ready_call
from tests.conftest import key_for

FAULT = "HV cable arcing at the tube end; the cable and its seal need replacing"
PARTS = [
    {"part_number": "HV-CBL-2200", "description": "HV cable, tube end", "quantity": 1},
    {"part_number": "SEAL-17", "description": "Cable seal", "quantity": 2},
]


def _accepted_call(desk: Desk) -> int:
    """A call the dispatcher searched and escalated, accepted by tier 2 (Tara)."""
    cid = _ready_call(desk)
    escalated = desk.client.post(
        f"/calls/{cid}/escalate", json={"reason": "arcing"}, headers=desk.as_(desk.dispatcher)
    )
    assert escalated.status_code == 201, escalated.text
    accepted = desk.client.post(
        f"/escalations/{escalated.json()['id']}/accept", headers=desk.as_(desk.engineer)
    )
    assert accepted.status_code == 200, accepted.text
    return cid


def _request_visit(desk: Desk, cid: int, **overrides: object) -> dict[str, Any]:
    """Tara asks for a field visit on the call; the work order as returned."""
    body = {"fault": FAULT, "parts": PARTS, "target_date": "2031-05-02"} | overrides
    response = desk.client.post(
        f"/calls/{cid}/work-orders", json=body, headers=desk.as_(desk.engineer)
    )
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


USED = [{"part_number": "HV-CBL-2200", "description": "HV cable, tube end", "quantity": 1}]


def _step(
    desk: Desk,
    order_id: int,
    step: str,
    key: str,
    body: dict[str, Any] | None = None,
    if_match: str | None = None,
) -> Any:
    """One step of the field engineer (or tier 2), as the response."""
    headers = desk.as_(key) | ({"If-Match": if_match} if if_match else {})
    return desk.client.post(f"/work-orders/{order_id}/{step}", json=body, headers=headers)


def _outbox(desk: Desk) -> list[tuple[str, dict[str, Any]]]:
    with desk.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        events = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
        return [(e.type, e.payload) for e in events]


def test_the_chain_from_the_desk_to_the_field_resolves_the_call(desk: Desk) -> None:
    c = desk.client
    cid = _accepted_call(desk)
    order = _request_visit(desk, cid)
    wid = order["id"]
    assert (order["state"], order["call_id"], order["asset_id"]) == (
        "requested",
        cid,
        desk.asset_id,
    )
    assert order["field_engineer"]["id"] == desk.field_id, "the scanner's primary by default"
    assert order["requested_by"]["id"] == desk.engineer_id
    assert (order["fault"], order["parts"], order["target_date"]) == (FAULT, PARTS, "2031-05-02")
    assert order["allowed_transitions"] == ["cancelled", "on_site", "scheduled"]
    call = c.get(f"/calls/{cid}").json()
    assert call["state"] == "field"
    assert call["owners"]["current"]["id"] == desk.field_id
    assert call["owners"]["follow_up"]["id"] == desk.field_id
    follow = [h for h in call["ownership_history"] if h["kind"] == "follow_up"]
    assert [(h["person_id"], h["ended_at"]) for h in follow] == [(desk.field_id, None)]
    current = [
        (h["person_id"], h["role"]) for h in call["ownership_history"] if h["kind"] == "current"
    ]
    assert current == [
        (desk.dispatcher_id, "dispatcher"),
        (desk.engineer_id, "engineer"),
        (desk.field_id, "field_engineer"),
    ]
    read = c.get(f"/work-orders/{wid}", headers=desk.as_(desk.dispatcher))
    assert read.status_code == 200
    etag = read.headers["ETag"]

    scheduled = _step(
        desk,
        wid,
        "schedule",
        desk.field,
        {"scheduled_for": "2031-05-01T09:30:00+01:00"},
        if_match=etag,
    )
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["scheduled_for"].startswith("2031-05-01T08:30:00")
    assert scheduled.headers["ETag"] != etag
    arrived = _step(desk, wid, "arrive", desk.field, if_match=scheduled.headers["ETag"])
    assert arrived.status_code == 200, arrived.text
    assert arrived.json()["state"] == "on_site"
    assert arrived.json()["arrived_at"]
    done = "Replaced the HV cable and its seal; ran tube seasoning; no arcing in 20 scans"
    completed = _step(
        desk,
        wid,
        "complete",
        desk.field,
        {"work_done": done, "parts_used": USED, "result": "fixed"},
    )
    assert completed.status_code == 200, completed.text
    body = completed.json()
    assert (body["state"], body["result"], body["parts_used"]) == ("completed", "fixed", USED)
    assert body["allowed_transitions"] == []

    call = c.get(f"/calls/{cid}").json()
    assert (call["state"], call["resolved_tier"], call["resolution_notes"]) == ("resolved", 3, done)
    steps = [e["data"]["state"] for e in call["timeline"] if e["kind"] == "work_order"]
    assert steps == ["requested", "scheduled", "on_site", "completed"]
    kinds = [(e["kind"], e["data"].get("state")) for e in call["timeline"]]
    assert kinds.index(("work_order", "completed")) < kinds.index(("resolved", None))

    outbox = _outbox(desk)
    types = [t for t, _ in outbox]
    assert types.count("work_order.requested") == 1
    assert types.count("work_order.updated") == 3
    assert types[-2:] == ["call.resolved", "work_order.updated"]
    requested = next(p for t, p in outbox if t == "work_order.requested")
    assert requested["work_order_id"] == wid
    assert (requested["call_id"], requested["asset_id"]) == (cid, desk.asset_id)
    assert (requested["field_engineer_id"], requested["field_engineer_name"]) == (
        desk.field_id,
        "Frank Field",
    )
    assert (requested["fault"], requested["parts"]) == (FAULT, PARTS)
    assert (requested["state"], requested["target_date"]) == ("requested", "2031-05-02")
    assert requested["call"]["state"] == "field"
    last = outbox[-1][1]
    assert (last["state"], last["result"], last["call"]["state"]) == (
        "completed",
        "fixed",
        "resolved",
    )

    listed = c.get("/work-orders", params={"call_id": cid}, headers=desk.as_(desk.field)).json()
    assert [o["id"] for o in listed] == [wid]
    assert c.get("/work-orders", params={"state": "requested"}).json() == []
    mine = c.get("/work-orders", params={"field_engineer_id": desk.field_id}).json()
    assert [o["id"] for o in mine] == [wid]


def test_returned_to_tier2_hands_the_call_back_with_findings(desk: Desk) -> None:
    c = desk.client
    other_id, other = key_for(c, "field_engineer", name="Fiona Field")
    cid = _accepted_call(desk)
    wid = _request_visit(desk, cid, field_engineer_id=other_id, parts=[])["id"]
    call = c.get(f"/calls/{cid}").json()
    assert call["owners"]["current"]["id"] == other_id
    assert call["owners"]["follow_up"]["id"] == desk.field_id, "the primary keeps following up"

    arrived = _step(desk, wid, "arrive", other)
    assert arrived.status_code == 200, "requested may go straight to on_site"
    no_findings = _step(
        desk, wid, "complete", other, {"work_done": "Checked", "result": "returned_to_tier2"}
    )
    assert no_findings.status_code == 422
    assert [e["field"] for e in no_findings.json()["errors"]] == ["findings"]
    findings = "Cable is fine; the arcing comes from the tube itself"
    returned = _step(
        desk,
        wid,
        "complete",
        other,
        {"work_done": "Swapped the cable", "result": "returned_to_tier2", "findings": findings},
    )
    assert returned.status_code == 200, returned.text
    assert (returned.json()["result"], returned.json()["findings"]) == (
        "returned_to_tier2",
        findings,
    )
    call = c.get(f"/calls/{cid}").json()
    assert call["state"] == "accepted"
    assert call["owners"]["current"]["id"] == desk.engineer_id
    assert call["ownership_history"][-1]["role"] == "engineer"
    assert call["resolved_at"] is None

    # back at tier 2, a second visit may be asked for, and cancelled: tier 2 keeps it
    second = _request_visit(desk, cid)["id"]
    by_field = _step(desk, second, "cancel", desk.field, {"reason": "x"})
    assert by_field.status_code == 403
    cancelled = _step(desk, second, "cancel", desk.engineer, {"reason": "tube ordered first"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancel_reason"] == "tube ordered first"
    call = c.get(f"/calls/{cid}").json()
    assert (call["state"], call["owners"]["current"]["id"]) == ("accepted", desk.engineer_id)


def test_a_call_in_the_field_is_resolved_by_its_visit_not_around_it(desk: Desk) -> None:
    c = desk.client
    cid = _accepted_call(desk)
    wid = _request_visit(desk, cid)["id"]
    early = c.post(
        f"/calls/{cid}/resolve", json={"notes": "fixed remotely"}, headers=desk.as_(desk.engineer)
    )
    assert early.status_code == 409
    assert early.json()["work_order_ids"] == [wid]
    assert f"work order {wid} (requested)" in early.json()["detail"]
    assert c.get(f"/calls/{cid}").json()["state"] == "field"

    assert (
        _step(desk, wid, "cancel", desk.engineer, {"reason": "fixed remotely"}).status_code == 200
    )
    done = c.post(
        f"/calls/{cid}/resolve", json={"notes": "fixed remotely"}, headers=desk.as_(desk.engineer)
    )
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.json()["resolved_tier"]) == ("resolved", 2)


def test_cancelling_the_call_calls_off_its_open_visit(desk: Desk) -> None:
    c = desk.client
    cid = _accepted_call(desk)
    wid = _request_visit(desk, cid)["id"]
    when = {"scheduled_for": "2031-05-02T09:00:00Z"}
    assert _step(desk, wid, "schedule", desk.field, when).status_code == 200
    action = c.post(
        f"/calls/{cid}/actions",
        json={
            "title": "Ship loaner",
            "assignee_id": desk.dispatcher_id,
            "due_at": "2031-05-01T09:00:00Z",
        },
        headers=desk.as_(desk.engineer),
    )
    assert action.status_code == 201, action.text
    cancelled = c.post(
        f"/calls/{cid}/cancel",
        json={"reason": "withdrawn", "note": "site replaced the scanner"},
        headers=desk.as_(desk.engineer),
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    order = c.get(f"/work-orders/{wid}").json()
    assert (order["state"], order["cancel_reason"]) == ("cancelled", f"call {cid} cancelled")
    with c.app.state.sessions() as session:  # type: ignore[attr-defined]
        events = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
    told = [(e.type, e.payload.get("state")) for e in events][-3:]
    assert told == [
        ("call.cancelled", "cancelled"),
        ("work_order.updated", "cancelled"),
        ("action.updated", "cancelled"),
    ]
    work = c.get("/me/work", headers=desk.as_(desk.field)).json()
    assert wid not in [o["id"] for o in work["work_orders"]]
    called_off = c.get(f"/actions/{action.json()['id']}").json()
    assert (called_off["state"], called_off["cancel_reason"]) == (
        "cancelled",
        f"call {cid} cancelled",
    )


def test_illegal_moves_get_409_with_the_allowed_states(desk: Desk) -> None:
    c = desk.client
    not_accepted = _ready_call(desk)
    refused = c.post(
        f"/calls/{not_accepted}/work-orders", json={"fault": "x"}, headers=desk.as_(desk.engineer)
    )
    assert refused.status_code == 409
    assert refused.json()["current_state"] == "open"

    cid = _accepted_call(desk)
    wid = _request_visit(desk, cid)["id"]
    again = c.post(
        f"/calls/{cid}/work-orders", json={"fault": "x"}, headers=desk.as_(desk.engineer)
    )
    assert (again.status_code, again.json()["current_state"]) == (409, "field")
    early = _step(desk, wid, "complete", desk.field, {"work_done": "x", "result": "fixed"})
    assert early.status_code == 409
    assert early.json()["current_state"] == "requested"
    assert early.json()["allowed"] == ["cancelled", "on_site", "scheduled"]
    assert _step(desk, wid, "cancel", desk.engineer, {"reason": "not needed"}).status_code == 200
    late = _step(desk, wid, "arrive", desk.field)
    assert late.status_code == 409
    assert (late.json()["current_state"], late.json()["allowed"]) == ("cancelled", [])
    assert c.get(f"/calls/{cid}").json()["state"] == "accepted"


def test_who_may_do_what(desk: Desk) -> None:
    c = desk.client
    cid = _accepted_call(desk)
    by_dispatcher = c.post(
        f"/calls/{cid}/work-orders", json={"fault": FAULT}, headers=desk.as_(desk.dispatcher)
    )
    assert by_dispatcher.status_code == 403
    by_other_tier2 = c.post(
        f"/calls/{cid}/work-orders", json={"fault": FAULT}, headers=desk.as_(desk.engineer2)
    )
    assert by_other_tier2.status_code == 403
    wid = _request_visit(desk, cid)["id"]
    _, other = key_for(c, "field_engineer")
    assert _step(desk, wid, "arrive", desk.field).status_code == 200
    not_theirs = _step(desk, wid, "complete", other, {"work_done": "x", "result": "fixed"})
    assert not_theirs.status_code == 403
    assert not_theirs.json()["field_engineer_id"] == desk.field_id
    assert c.get(f"/work-orders/{wid}").json()["state"] == "on_site"


def test_stale_if_match_unknown_ids_and_bad_input(desk: Desk) -> None:
    c = desk.client
    cid = _accepted_call(desk)
    wid = _request_visit(desk, cid)["id"]
    version = c.get(f"/work-orders/{wid}").headers["ETag"]
    assert _step(desk, wid, "arrive", desk.field, if_match=version).status_code == 200
    stale = _step(desk, wid, "cancel", desk.engineer, {"reason": "x"}, if_match=version)
    assert stale.status_code == 412
    assert stale.json()["current_version"] == int(version.strip('"')) + 1
    assert c.get(f"/work-orders/{wid}").json()["state"] == "on_site"

    assert c.get("/work-orders/999999").status_code == 404
    assert _step(desk, 999999, "arrive", desk.field).status_code == 404
    missing_call = c.post("/calls/999999/work-orders", json={"fault": FAULT})
    assert missing_call.status_code == 404

    other = _accepted_call(desk)
    url, tier2 = f"/calls/{other}/work-orders", desk.as_(desk.engineer)
    zero = [{"part_number": "SEAL-17", "quantity": 0}]
    bad_parts = c.post(url, json={"fault": FAULT, "parts": zero}, headers=tier2)
    assert bad_parts.status_code == 422
    assert [e["field"] for e in bad_parts.json()["errors"]] == ["parts.0.quantity"]
    no_fault = c.post(url, json={"fault": " "}, headers=tier2)
    assert [e["field"] for e in no_fault.json()["errors"]] == ["fault"]
    not_field = c.post(
        url, json={"fault": FAULT, "field_engineer_id": desk.dispatcher_id}, headers=tier2
    )
    assert not_field.status_code == 422
    assert [e["field"] for e in not_field.json()["errors"]] == ["field_engineer_id"]
    assert c.get(f"/calls/{other}").json()["state"] == "accepted", "nothing half done"
    naive = _step(desk, wid, "schedule", desk.field, {"scheduled_for": "2031-05-01T09:30:00"})
    assert [e["field"] for e in naive.json()["errors"]] == ["scheduled_for"]
