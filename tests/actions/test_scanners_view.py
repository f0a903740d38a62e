"""The primary engineer's round: each scanner they look after and what is open on it."""

from __future__ import annotations

from tests.actions.test_actions import _assigned
from tests.calls.conftest import Desk
from tests.calls.test_call_flow import _open
from tests.conftest import key_for
from tests.workorders.test_work_orders import _accepted_call, _request_visit


def test_the_primary_sees_open_calls_visits_actions_and_follow_ups(desk: Desk) -> None:
    d = desk.as_(desk.dispatcher)
    visited = _accepted_call(desk)
    order = _request_visit(desk, visited)
    action = _assigned(desk, visited)
    done = _open(desk)
    desk.client.post(f"/calls/{done['id']}/resolve", json={"reason": "user_training"}, headers=d)
    closed = _open(desk)
    desk.client.post(f"/calls/{closed['id']}/resolve", json={"reason": "duplicate"}, headers=d)
    desk.client.post(f"/calls/{closed['id']}/close", headers=d)

    view = desk.client.get(f"/people/{desk.field_id}/scanners", headers=desk.as_(desk.field))
    assert view.status_code == 200, view.text
    [scanner] = view.json()
    assert scanner["asset"]["id"] == desk.asset_id
    assert [c["id"] for c in scanner["open_calls"]] == [visited]
    assert [w["id"] for w in scanner["work_orders"]] == [order["id"]]
    assert [a["id"] for a in scanner["actions"]] == [action["id"]]
    # the customer of a resolved call is still followed up; a closed one no more
    assert [c["id"] for c in scanner["follow_ups"]] == [done["id"], visited]


def test_someone_with_no_scanner_has_an_empty_round_and_unknown_is_404(desk: Desk) -> None:
    someone, _ = key_for(desk.client, "field_engineer", name="Nadia Nowhere")
    assert desk.client.get(f"/people/{someone}/scanners").json() == []
    assert desk.client.get("/people/999999/scanners").status_code == 404
