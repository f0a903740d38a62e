"""No call is stuck: edit it, cancel it, resolve it without an article, and let the
scanner's field engineer write on it."""

from __future__ import annotations

from tests.calls.conftest import Desk
from tests.calls.test_call_flow import _open, _ready_call, _search
from tests.conftest import key_for


def test_a_call_fixed_without_an_article_resolves_with_a_reason_and_closes(desk: Desk) -> None:
    d = desk.as_(desk.dispatcher)
    call = _open(desk)
    bare = desk.client.post(f"/calls/{call['id']}/resolve", json={"notes": "rebooted"}, headers=d)
    assert bare.status_code == 422
    assert bare.json()["errors"][0]["field"] == "article_id"
    body = {"reason": "user_training", "notes": "the protocol was wrong"}
    resolved = desk.client.post(f"/calls/{call['id']}/resolve", json=body, headers=d)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolution_reason"] == "user_training"
    assert resolved.json()["fixed_by_article_id"] is None
    closed = desk.client.post(f"/calls/{call['id']}/close", headers=d)
    assert (closed.status_code, closed.json()["state"]) == (200, "closed")
    both = desk.client.post(
        f"/calls/{_open(desk)['id']}/resolve",
        json={"article_id": 1, "reason": "duplicate"},
        headers=d,
    )
    assert both.status_code == 422


def test_a_missing_callback_number_is_added_by_an_edit_then_escalation_goes(desk: Desk) -> None:
    d = desk.as_(desk.dispatcher)
    call = _open(desk, callback_number="")
    cid = call["id"]
    _search(desk, cid, query="popping")
    body = {"reason": "persists", "nothing_applicable": "the caller is not at the console"}
    refused = desk.client.post(f"/calls/{cid}/escalate", json=body, headers=d)
    assert [e["field"] for e in refused.json()["errors"]] == ["callback_number"]
    read = desk.client.get(f"/calls/{cid}")
    version = read.headers["etag"]
    change = {"callback_number": "+44 20 7946 0999", "screen_message": "HV ARC 417"}
    unversioned = desk.client.patch(f"/calls/{cid}", json=change, headers=d)
    assert unversioned.status_code == 428
    edited = desk.client.patch(f"/calls/{cid}", json=change, headers=d | {"If-Match": version})
    assert edited.status_code == 200, edited.text
    assert edited.json()["callback_number"] == "+44 20 7946 0999"
    assert edited.headers["etag"] != version
    stale = desk.client.patch(
        f"/calls/{cid}", json={"started": "this morning"}, headers=d | {"If-Match": version}
    )
    assert stale.status_code == 412
    event = [e for e in edited.json()["timeline"] if e["kind"] == "edited"][-1]
    assert event["data"]["changes"]["callback_number"] == {"from": "", "to": "+44 20 7946 0999"}
    assert event["actor_name"] == "Dana Dispatcher"
    sent = desk.client.post(f"/calls/{cid}/escalate", json=body, headers=d)
    assert sent.status_code == 201, sent.text
    assert sent.json()["package"]["caller"]["callback_number"] == "+44 20 7946 0999"


def test_an_edit_naming_a_null_or_unknown_field_is_refused(desk: Desk) -> None:
    d = desk.as_(desk.dispatcher)
    cid = _open(desk)["id"]
    version = desk.client.get(f"/calls/{cid}").headers["etag"]
    for body, field in (({"caller_name": None}, "caller_name"), ({"colour": "red"}, "colour")):
        response = desk.client.patch(f"/calls/{cid}", json=body, headers=d | {"If-Match": version})
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == [field]


def test_a_cancelled_call_closes_its_escalation_and_can_be_reopened(desk: Desk) -> None:
    d = desk.as_(desk.dispatcher)
    cid = _ready_call(desk)
    esc = desk.client.post(f"/calls/{cid}/escalate", json={"reason": "x"}, headers=d).json()
    bad = desk.client.post(f"/calls/{cid}/cancel", json={"reason": "bored"}, headers=d)
    assert [e["field"] for e in bad.json()["errors"]] == ["reason"]
    cancelled = desk.client.post(
        f"/calls/{cid}/cancel", json={"reason": "duplicate", "note": "same as call 7"}, headers=d
    )
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["state"], cancelled.json()["cancel_reason"]) == (
        "cancelled",
        "duplicate",
    )
    assert desk.client.get("/escalations", headers=desk.as_(desk.engineer)).json() == []
    assert desk.client.get(f"/escalations/{esc['id']}").json()["status"] == "closed"
    again = desk.client.post(f"/calls/{cid}/cancel", json={"reason": "duplicate"}, headers=d)
    assert again.status_code == 409
    reopened = desk.client.post(f"/calls/{cid}/reopen", json={"reason": "not a dup"}, headers=d)
    assert reopened.json()["state"] == "open"
    assert reopened.json()["cancel_reason"] is None


def test_a_field_engineer_notes_the_calls_of_their_own_scanners_only(desk: Desk) -> None:
    cid = _open(desk)["id"]
    mine = desk.client.post(
        f"/calls/{cid}/notes", json={"text": "on site tomorrow"}, headers=desk.as_(desk.field)
    )
    assert mine.status_code == 201, mine.text
    _, stranger = key_for(desk.client, "field_engineer", name="Sam Elsewhere")
    theirs = desk.client.post(
        f"/calls/{cid}/notes", json={"text": "hello"}, headers=desk.as_(stranger)
    )
    assert theirs.status_code == 403
    tried = desk.client.post(
        f"/calls/{cid}/attempts",
        json={"article_id": 1, "outcome": "fixed"},
        headers=desk.as_(desk.field),
    )
    assert tried.status_code == 403
