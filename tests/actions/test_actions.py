from typing import Any

from sqlalchemy import select

from app.webhooks.models import OutboxEvent
from tests.calls.conftest import Desk
from tests.calls.test_call_flow import _open
from tests.conftest import key_for
from tests.workorders.test_work_orders import _accepted_call, _request_visit

PAST = "2020-01-06T09:00:00+00:00"
FUTURE = "2031-05-01T14:00:00+01:00"


def _assign(desk: Desk, cid: int, key: str, **overrides: object) -> Any:
    """An action on the call, as the response."""
    body = {
        "title": "Order HV-CBL-2200",
        "details": "Next-day delivery to St Elsewhere",
        "assignee_id": desk.engineer_id,
        "due_at": FUTURE,
    } | overrides
    return desk.client.post(f"/calls/{cid}/actions", json=body, headers=desk.as_(key))


def _assigned(desk: Desk, cid: int, **overrides: object) -> dict[str, Any]:
    """An action the dispatcher assigned on the call."""
    response = _assign(desk, cid, desk.dispatcher, **overrides)
    assert response.status_code == 201, response.text
    action: dict[str, Any] = response.json()
    return action


def _step(
    desk: Desk,
    action_id: int,
    step: str,
    key: str,
    body: dict[str, Any] | None = None,
    if_match: str | None = None,
) -> Any:
    """One step on the action, as the response."""
    headers = desk.as_(key) | ({"If-Match": if_match} if if_match else {})
    return desk.client.post(f"/actions/{action_id}/{step}", json=body, headers=headers)


def _outbox(desk: Desk) -> list[tuple[str, dict[str, Any]]]:
    with desk.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        events = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
        return [(e.type, e.payload) for e in events]


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [a["id"] for a in response.json()]


def test_assign_acknowledge_complete_on_the_timeline_and_webhooks(desk: Desk) -> None:
    c = desk.client
    cid = _open(desk)["id"]
    created = _assign(desk, cid, desk.dispatcher)
    assert created.status_code == 201, created.text
    action = created.json()
    aid = action["id"]
    assert created.headers["Location"] == f"/actions/{aid}"
    assert (action["state"], action["call_id"], action["asset_id"]) == ("open", cid, desk.asset_id)
    assert action["assignee"]["id"] == desk.engineer_id
    assert action["assigned_by"]["id"] == desk.dispatcher_id
    assert action["due_at"].startswith("2031-05-01T13:00:00")
    assert (action["overdue"], action["allowed_transitions"]) == (
        False,
        ["acknowledged", "cancelled"],
    )
    etag = c.get(f"/actions/{aid}", headers=desk.as_(desk.field)).headers["ETag"]
    assert etag == created.headers["ETag"]

    acked = _step(desk, aid, "acknowledge", desk.engineer, if_match=etag)
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_at"]
    assert acked.headers["ETag"] != etag
    done = _step(
        desk,
        aid,
        "complete",
        desk.engineer,
        {"outcome": "Ordered, arrives Tuesday"},
        if_match=acked.headers["ETag"],
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["state"], body["outcome"], body["allowed_transitions"]) == (
        "done",
        "Ordered, arrives Tuesday",
        [],
    )
    assert body["completed_at"]
    assert not body["overdue"]

    timeline = c.get(f"/calls/{cid}").json()["timeline"]
    steps = [e["data"] for e in timeline if e["kind"] == "action"]
    assert [s["state"] for s in steps] == ["open", "acknowledged", "done"]
    assert {(s["action_id"], s["title"], s["assignee_name"]) for s in steps} == {
        (aid, "Order HV-CBL-2200", "Tara Tier2")
    }
    assert steps[-1]["outcome"] == "Ordered, arrives Tuesday"

    outbox = [(t, p) for t, p in _outbox(desk) if t.startswith("action.")]
    assert [t for t, _ in outbox] == ["action.assigned", "action.updated", "action.updated"]
    assigned = outbox[0][1]
    assert (assigned["action_id"], assigned["call_id"], assigned["asset_id"]) == (
        aid,
        cid,
        desk.asset_id,
    )
    assert (assigned["title"], assigned["state"]) == ("Order HV-CBL-2200", "open")
    assert (assigned["assignee_id"], assigned["assignee_name"]) == (desk.engineer_id, "Tara Tier2")
    assert assigned["due_at"].startswith("2031-05-01T13:00:00")
    assert (assigned["primary_engineer_id"], assigned["primary_engineer_name"]) == (
        desk.field_id,
        "Frank Field",
    )
    assert assigned["call"]["call_id"] == cid
    assert [p["state"] for _, p in outbox[1:]] == ["acknowledged", "done"]

    assert _ids(c.get("/actions", params={"call_id": cid})) == [aid]
    assert _ids(c.get("/actions", params={"assignee_id": desk.engineer_id})) == [aid]
    assert _ids(c.get("/actions", params={"state": "open"})) == []


def test_overdue_actions_for_the_assignee_and_the_primary(desk: Desk) -> None:
    c = desk.client
    cid = _open(desk)["id"]
    late = _assigned(desk, cid, title="Call Rita back", assignee_id=desk.engineer2_id, due_at=PAST)
    assert late["overdue"] is True
    later = _assigned(desk, cid, title="Loaner probe", assignee_id=desk.engineer2_id)
    dropped = _assigned(desk, cid, title="x", assignee_id=desk.engineer2_id, due_at=PAST)
    cancel = _step(desk, dropped["id"], "cancel", desk.dispatcher, {"reason": "not needed"})
    assert cancel.status_code == 200, cancel.text
    assert (cancel.json()["state"], cancel.json()["overdue"]) == ("cancelled", False)

    assert _ids(c.get("/actions", params={"overdue": "true"})) == [late["id"]]
    assert _ids(c.get("/actions", params={"overdue": "false"})) == [dropped["id"], later["id"]]

    mine = c.get("/me/work", headers=desk.as_(desk.engineer2))
    assert mine.status_code == 200, mine.text
    work = mine.json()
    assert work["person_id"] == desk.engineer2_id
    assert [(a["id"], a["overdue"]) for a in work["actions"]] == [
        (late["id"], True),
        (later["id"], False),
    ]
    assert (work["calls"], work["work_orders"], work["overdue_on_my_scanners"]) == ([], [], [])

    # the scanner's primary engineer sees what is overdue on its calls, and has the visit
    wid = _request_visit(desk, _accepted_call(desk))["id"]
    primary = c.get("/me/work", headers=desk.as_(desk.field)).json()
    assert [a["id"] for a in primary["overdue_on_my_scanners"]] == [late["id"]]
    assert primary["actions"] == []
    assert [o["id"] for o in primary["work_orders"]] == [wid]
    assert [(k["state"], k["current_owner"]) for k in primary["calls"]] == [
        ("field", "Frank Field")
    ]
    dispatcher = c.get("/me/work", headers=desk.as_(desk.dispatcher)).json()
    assert cid in [k["id"] for k in dispatcher["calls"]]

    # done, it is overdue no more
    assert _step(desk, late["id"], "acknowledge", desk.engineer2).status_code == 200
    assert _step(desk, late["id"], "complete", desk.engineer2).status_code == 200
    primary = c.get("/me/work", headers=desk.as_(desk.field)).json()
    assert primary["overdue_on_my_scanners"] == []


def test_who_may_do_what_and_illegal_moves(desk: Desk) -> None:
    c = desk.client
    cid = _open(desk)["id"]
    by_primary = _assign(desk, cid, desk.field, assignee_id=desk.field_id)
    assert by_primary.status_code == 201, "a field engineer assigns on their scanner's calls"
    _, stranger = key_for(c, "field_engineer", name="Fiona Field")
    assert _assign(desk, cid, stranger).status_code == 403
    aid = _assigned(desk, cid)["id"]

    not_theirs = _step(desk, aid, "acknowledge", desk.engineer2)
    assert not_theirs.status_code == 403
    assert not_theirs.json()["assignee_id"] == desk.engineer_id
    early = _step(desk, aid, "complete", desk.engineer)
    assert early.status_code == 409
    assert (early.json()["current_state"], early.json()["allowed"]) == (
        "open",
        ["acknowledged", "cancelled"],
    )
    assert _step(desk, aid, "cancel", desk.engineer, {"reason": "x"}).status_code == 403
    assert _step(desk, aid, "acknowledge", desk.engineer).status_code == 200
    by_admin = _step(desk, aid, "complete", c.headers["X-API-Key"])
    assert by_admin.status_code == 200, "admins may"
    late = _step(desk, aid, "cancel", desk.dispatcher, {"reason": "x"})
    assert late.status_code == 409
    assert (late.json()["current_state"], late.json()["allowed"]) == ("done", [])


def test_stale_if_match_unknown_ids_and_bad_input(desk: Desk) -> None:
    c = desk.client
    cid = _open(desk)["id"]
    aid = _assigned(desk, cid)["id"]
    version = c.get(f"/actions/{aid}").headers["ETag"]
    assert _step(desk, aid, "acknowledge", desk.engineer, if_match=version).status_code == 200
    stale = _step(desk, aid, "cancel", desk.dispatcher, {"reason": "x"}, if_match=version)
    assert stale.status_code == 412
    assert stale.json()["current_version"] == int(version.strip('"')) + 1
    assert c.get(f"/actions/{aid}").json()["state"] == "acknowledged"

    assert c.get("/actions/999999").status_code == 404
    assert _step(desk, 999999, "acknowledge", desk.engineer).status_code == 404
    assert _assign(desk, 999999, desk.dispatcher).status_code == 404

    naive = _assign(desk, cid, desk.dispatcher, due_at="2031-05-01T14:00:00")
    assert naive.status_code == 422
    assert [e["field"] for e in naive.json()["errors"]] == ["due_at"]
    unknown = _assign(desk, cid, desk.dispatcher, assignee_id=999999)
    assert unknown.status_code == 422
    assert [e["field"] for e in unknown.json()["errors"]] == ["assignee_id"]
    gone_id, _ = key_for(c, "engineer", name="Gone Tier2")
    assert c.patch(f"/people/{gone_id}", json={"active": False}).status_code == 200
    inactive = _assign(desk, cid, desk.dispatcher, assignee_id=gone_id)
    assert [e["field"] for e in inactive.json()["errors"]] == ["assignee_id"]
    blank = _assign(desk, cid, desk.dispatcher, title=" ", details="x" * 2001)
    assert sorted(e["field"] for e in blank.json()["errors"]) == ["details", "title"]
    assert _ids(c.get("/actions", params={"call_id": cid})) == [aid], "nothing half done"
    cancelled = c.post(f"/calls/{cid}/cancel", json={"reason": "duplicate"})
    assert cancelled.status_code == 200, cancelled.text
    ended = _assign(desk, cid, desk.dispatcher)
    assert (ended.status_code, ended.json()["current_state"]) == (409, "cancelled")
