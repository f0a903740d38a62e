"""Everyone the chain concerns is told, in the transaction of the write that told it."""

from __future__ import annotations

from tests.calls.conftest import Desk
from tests.calls.test_call_flow import _open, _ready_call


def _kinds(desk: Desk, key: str) -> list[str]:
    page = desk.client.get("/me/notifications", headers=desk.as_(key))
    assert page.status_code == 200, page.text
    return [n["kind"] for n in page.json()["items"]]


def test_the_primary_hears_of_every_step_and_each_tier_of_its_own(desk: Desk) -> None:
    d, e = desk.as_(desk.dispatcher), desk.as_(desk.engineer)
    cid = _ready_call(desk)
    assert _kinds(desk, desk.field) == ["call.opened"]
    assert _kinds(desk, desk.engineer) == []
    esc = desk.client.post(f"/calls/{cid}/escalate", json={"reason": "x"}, headers=d).json()
    # sent to the queue: every tier-2 engineer hears of it
    assert _kinds(desk, desk.engineer) == ["call.escalated"]
    assert _kinds(desk, desk.engineer2) == ["call.escalated"]
    desk.client.post(f"/escalations/{esc['id']}/accept", headers=e)
    assert _kinds(desk, desk.dispatcher) == ["call.accepted"]
    desk.client.post(f"/calls/{cid}/resolve", json={"notes": "cable replaced"}, headers=e)
    assert _kinds(desk, desk.dispatcher) == ["call.resolved", "call.accepted"]
    assert _kinds(desk, desk.field) == [
        "call.resolved",
        "call.accepted",
        "call.escalated",
        "call.opened",
    ]
    page = desk.client.get("/me/notifications", headers=desk.as_(desk.field)).json()
    assert page["unread"] == 4
    newest = page["items"][0]
    assert newest["call_id"] == cid
    assert f"Call {cid} resolved at tier 2" == newest["text"]
    assert newest["data"]["tier"] == 2


def test_a_targeted_escalation_tells_its_engineer_only(desk: Desk) -> None:
    cid = _ready_call(desk)
    body = {"reason": "x", "engineer_id": desk.engineer_id}
    esc = desk.client.post(
        f"/calls/{cid}/escalate", json=body, headers=desk.as_(desk.dispatcher)
    ).json()
    assert _kinds(desk, desk.engineer) == ["call.escalated"]
    assert _kinds(desk, desk.engineer2) == []
    desk.client.post(
        f"/escalations/{esc['id']}/decline",
        json={"reason": "on leave"},
        headers=desk.as_(desk.engineer),
    )
    assert _kinds(desk, desk.dispatcher) == ["call.declined"]


def test_a_refused_write_tells_nobody(desk: Desk) -> None:
    call = _open(desk, callback_number="")
    refused = desk.client.post(
        f"/calls/{call['id']}/escalate", json={"reason": "x"}, headers=desk.as_(desk.dispatcher)
    )
    assert refused.status_code == 422
    assert _kinds(desk, desk.engineer) == []
    assert _kinds(desk, desk.field) == ["call.opened"]


def test_unread_first_and_marking_read(desk: Desk) -> None:
    f = desk.as_(desk.field)
    for _ in range(3):
        _open(desk)
    items = desk.client.get("/me/notifications", headers=f).json()["items"]
    oldest = items[-1]["id"]
    read = desk.client.post(f"/me/notifications/{oldest}/read", headers=f)
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    page = desk.client.get("/me/notifications", headers=f).json()
    assert page["unread"] == 2
    assert [n["id"] for n in page["items"]][-1] == oldest  # read ones after the unread
    unread = desk.client.get("/me/notifications", params={"unread": True}, headers=f).json()
    assert oldest not in [n["id"] for n in unread["items"]]
    theirs = desk.client.post(f"/me/notifications/{oldest}/read", headers=desk.as_(desk.dispatcher))
    assert theirs.status_code == 404
    marked = desk.client.post("/me/notifications/read-all", headers=f).json()
    assert marked == {"marked": 2}
    assert desk.client.get("/me/notifications", headers=f).json()["unread"] == 0


def test_an_integration_client_has_no_notifications(desk: Desk) -> None:
    client = desk.client.post("/clients", json={"name": "helpdesk-x", "scopes": ["calls:read"]})
    key = desk.client.post("/keys", json={"name": "k", "client_id": client.json()["id"]})
    response = desk.client.get("/me/notifications", headers={"X-API-Key": key.json()["key"]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "key"
