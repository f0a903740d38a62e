"""The customer contact log: callbacks scheduled and made, over HTTP on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from tests.calls.conftest import Desk
from tests.calls.test_call_flow import _open
from tests.conftest import key_for

PLUS_ONE = timezone(timedelta(hours=1))


def _at(**delta: float) -> str:
    """A time from now, with an offset of +01:00 (offsets are honoured)."""
    return (datetime.now(UTC).astimezone(PLUS_ONE) + timedelta(**delta)).isoformat()


def _log(desk: Desk, cid: int, key: str, **body: Any) -> Any:
    return desk.client.post(f"/calls/{cid}/contacts", json=body, headers=desk.as_(key))


def _scheduled(desk: Desk, cid: int, key: str, **body: Any) -> dict[str, Any]:
    """A callback scheduled on the call, as returned."""
    response = _log(desk, cid, key, **({"scheduled_for": _at(minutes=10)} | body))
    assert response.status_code == 201, response.text
    contact: dict[str, Any] = response.json()
    return contact


def _made(
    desk: Desk, cid: int, contact_id: int, key: str, if_match: str | None = None, **body: Any
) -> Any:
    headers = desk.as_(key) | ({"If-Match": if_match} if if_match else {})
    return desk.client.post(f"/calls/{cid}/contacts/{contact_id}/made", json=body, headers=headers)


def _fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def test_schedule_list_and_make_with_each_outcome(desk: Desk) -> None:
    c, dispatcher = desk.client, desk.dispatcher
    call = _open(desk)
    cid = call["id"]

    when = _at(minutes=10)
    response = _log(desk, cid, dispatcher, scheduled_for=when, notes="confirm fix")
    assert response.status_code == 201, response.text
    first = response.json()
    assert datetime.fromisoformat(first["scheduled_for"]) == datetime.fromisoformat(when)
    assert response.headers["Location"] == f"/calls/{cid}/contacts/{first['id']}"
    assert response.headers["ETag"] == '"1"'
    assert first["status"] == "scheduled"
    assert first["owner"]["id"] == desk.field_id, "the call's follow-up owner by default"
    assert first["scheduled_by"]["id"] == desk.dispatcher_id
    assert (first["number"], first["contact_name"]) == ("+44 20 7946 0123", "Rita Radiographer")
    assert (first["due"], first["overdue"], first["made_at"], first["outcome"]) == (
        True,
        False,
        None,
        None,
    )

    later = _scheduled(
        desk,
        cid,
        dispatcher,
        scheduled_for=_at(days=3),
        owner_id=desk.engineer_id,
        number="+44 20 7946 0999",
        contact_name="Dr Lee",
    )
    assert later["owner"]["id"] == desk.engineer_id
    assert (later["number"], later["contact_name"], later["due"]) == (
        "+44 20 7946 0999",
        "Dr Lee",
        False,
    )
    reached = _log(desk, cid, dispatcher, outcome="reached", notes="scanner is fine")
    assert reached.status_code == 201, reached.text
    now = reached.json()
    assert (now["status"], now["outcome"], now["scheduled_for"]) == ("made", "reached", None)
    assert now["owner"]["id"] == now["made_by"]["id"] == desk.dispatcher_id

    # the callback got no answer: made, and the next attempt scheduled with it
    made = _made(
        desk,
        cid,
        first["id"],
        desk.field,
        if_match='"1"',
        outcome="no_answer",
        next_attempt_at=_at(minutes=30),
    )
    assert made.status_code == 200, made.text
    done, following = made.json()["made"], made.json()["next_attempt"]
    assert made.headers["ETag"] == '"2"'
    assert (done["status"], done["outcome"], done["made_by"]["id"]) == (
        "made",
        "no_answer",
        desk.field_id,
    )
    assert (done["due"], done["notes"]) == (False, "confirm fix")
    assert following["status"] == "scheduled"
    assert following["owner"]["id"] == desk.field_id
    assert (following["number"], following["contact_name"]) == (
        first["number"],
        "Rita Radiographer",
    )

    again = _made(desk, cid, following["id"], desk.field, outcome="left_message", notes="voicemail")
    assert again.status_code == 200, again.text
    assert again.json()["made"]["outcome"] == "left_message"
    assert again.json()["next_attempt"] is None
    last = _made(desk, cid, later["id"], desk.engineer, outcome="reached")
    assert last.json()["made"]["outcome"] == "reached"

    # made once: nothing more to do on it
    twice = _made(desk, cid, first["id"], desk.field, outcome="reached")
    assert twice.status_code == 409
    assert (twice.json()["outcome"], twice.json()["allowed"]) == ("no_answer", [])

    log = c.get(f"/calls/{cid}/contacts", headers=desk.as_(desk.field))
    assert log.status_code == 200, log.text
    assert [(e["id"], e["status"], e["outcome"]) for e in log.json()] == [
        (first["id"], "made", "no_answer"),
        (later["id"], "made", "reached"),
        (now["id"], "made", "reached"),
        (following["id"], "made", "left_message"),
    ]
    one = c.get(f"/calls/{cid}/contacts/{following['id']}")
    assert (one.json()["notes"], one.headers["ETag"]) == (
        "next attempt after no answer\nvoicemail",
        '"2"',
    )

    # every entry is on the timeline, as a note naming the contact
    timeline = c.get(f"/calls/{cid}").json()["timeline"]
    logged = [
        (e["data"]["contact_id"], e["data"]["contact"])
        for e in timeline
        if "contact_id" in e["data"]
    ]
    assert logged == [
        (first["id"], "scheduled"),
        (later["id"], "scheduled"),
        (now["id"], "made"),
        (first["id"], "made"),
        (following["id"], "scheduled"),
        (following["id"], "made"),
        (later["id"], "made"),
    ]
    notes = [e for e in timeline if e["kind"] == "contact"]
    assert len(notes) == len(logged)
    assert "no answer" in notes[3]["data"]["text"]


def test_a_due_callback_is_on_its_owners_work_and_the_primarys_round_until_made(
    desk: Desk,
) -> None:
    c = desk.client
    cid = _open(desk)["id"]
    due = _scheduled(desk, cid, desk.dispatcher, owner_id=desk.engineer2_id)
    _scheduled(desk, cid, desk.dispatcher, owner_id=desk.engineer2_id, scheduled_for=_at(days=2))
    resolved = _open(desk)["id"]
    on_resolved = _scheduled(desk, resolved, desk.dispatcher, scheduled_for=_at(minutes=50))

    def owners() -> list[int]:
        work = c.get("/me/work", headers=desk.as_(desk.engineer2))
        assert work.status_code == 200, work.text
        return [e["id"] for e in work.json()["follow_ups_due"]]

    def round_() -> list[int]:
        view = c.get(f"/people/{desk.field_id}/scanners", headers=desk.as_(desk.field))
        assert view.status_code == 200, view.text
        [scanner] = view.json()
        return [e["id"] for e in scanner["follow_ups_due"]]

    assert owners() == [due["id"]], "only what is due within the hour"
    assert round_() == [due["id"], on_resolved["id"]], "anyone's, soonest first"
    mine = c.get("/me/work", headers=desk.as_(desk.field)).json()["follow_ups_due"]
    assert [e["id"] for e in mine] == [on_resolved["id"]], "the follow-up owner's by default"

    # a resolved call is still followed up; once closed, its callbacks are due no more
    d = desk.as_(desk.dispatcher)
    assert c.post(
        f"/calls/{resolved}/resolve", json={"reason": "user_training"}, headers=d
    ).is_success
    assert round_() == [due["id"], on_resolved["id"]]
    assert c.post(f"/calls/{resolved}/close", headers=d).is_success
    assert round_() == [due["id"]]

    assert _made(desk, cid, due["id"], desk.engineer2, outcome="reached").status_code == 200
    assert (owners(), round_()) == ([], [])


def test_bad_input_is_a_422_naming_the_field_and_unknowns_are_404(desk: Desk) -> None:
    c, key = desk.client, desk.dispatcher
    cid = _open(desk)["id"]
    other = _open(desk)["id"]

    past = _log(desk, cid, key, scheduled_for=_at(minutes=-5))
    assert (past.status_code, _fields(past)) == (422, ["scheduled_for"])
    too_far = _log(desk, cid, key, scheduled_for="9999-12-31T23:59:59-05:00")
    assert (too_far.status_code, _fields(too_far)) == (422, ["scheduled_for"])
    naive = _log(desk, cid, key, scheduled_for="2031-05-02T10:00:00")
    assert (naive.status_code, _fields(naive)) == (422, ["scheduled_for"])
    nobody = _log(desk, cid, key, scheduled_for=_at(hours=1), owner_id=999999)
    assert (nobody.status_code, _fields(nobody)) == (422, ["owner_id"])
    both = _log(desk, cid, key, scheduled_for=_at(hours=1), outcome="reached")
    assert (both.status_code, _fields(both)) == (422, ["scheduled_for", "outcome"])
    neither = _log(desk, cid, key, notes="hm")
    assert (neither.status_code, _fields(neither)) == (422, ["scheduled_for", "outcome"])
    owned = _log(desk, cid, key, outcome="reached", owner_id=desk.field_id)
    assert (owned.status_code, _fields(owned)) == (422, ["owner_id"])
    odd = _log(desk, cid, key, outcome="hung_up")
    assert (odd.status_code, _fields(odd)) == (422, ["outcome"])
    assert c.get(f"/calls/{cid}/contacts").json() == [], "nothing refused was logged"

    assert _log(desk, 999999, key, outcome="reached").status_code == 404
    assert c.get("/calls/999999/contacts").status_code == 404
    contact = _scheduled(desk, cid, key)
    assert _made(desk, cid, 999999, key, outcome="reached").status_code == 404
    assert _made(desk, other, contact["id"], key, outcome="reached").status_code == 404
    assert c.get(f"/calls/{other}/contacts/{contact['id']}").status_code == 404
    late = _made(desk, cid, contact["id"], key, outcome="no_answer", next_attempt_at=_at(hours=-1))
    assert (late.status_code, _fields(late)) == (422, ["next_attempt_at"])
    stale = _made(desk, cid, contact["id"], key, if_match='"7"', outcome="reached")
    assert (stale.status_code, stale.json()["current_version"]) == (412, 1)
    missing = _made(desk, cid, contact["id"], key, notes="no outcome")
    assert (missing.status_code, _fields(missing)) == (422, ["outcome"])
    [still] = c.get(f"/calls/{cid}/contacts").json()
    assert (still["status"], still["version"]) == ("scheduled", 1)


def test_who_may_log_and_on_which_calls(desk: Desk) -> None:
    c = desk.client
    cid = _open(desk)["id"]
    by_primary = _scheduled(desk, cid, desk.field)
    assert by_primary["scheduled_by"]["id"] == desk.field_id, "the scanner's field engineer"
    _, stranger = key_for(c, "field_engineer", name="Fiona Field")
    assert _log(desk, cid, stranger, outcome="reached").status_code == 403
    assert _made(desk, cid, by_primary["id"], stranger, outcome="reached").status_code == 403
    reader = c.post("/clients", json={"name": "ris-bridge", "scopes": ["calls:read"]}).json()
    raw = c.post("/keys", json={"name": "k", "client_id": reader["id"]}).json()["key"]
    refused = _log(desk, cid, raw, outcome="reached")
    assert (refused.status_code, refused.json()["missing_permissions"]) == (403, ["calls:note"])
    assert c.get(f"/calls/{cid}/contacts", headers=desk.as_(raw)).status_code == 200

    d = desk.as_(desk.dispatcher)
    assert c.post(f"/calls/{cid}/resolve", json={"reason": "user_training"}, headers=d).is_success
    assert _log(desk, cid, desk.field, outcome="reached").status_code == 201, "confirming the fix"
    assert c.post(f"/calls/{cid}/close", headers=d).is_success
    closed = _log(desk, cid, desk.dispatcher, scheduled_for=_at(hours=1))
    assert (closed.status_code, closed.json()["current_state"]) == (409, "closed")
    assert _made(desk, cid, by_primary["id"], desk.field, outcome="reached").status_code == 409
    cancelled = _open(desk)["id"]
    assert c.post(f"/calls/{cancelled}/cancel", json={"reason": "duplicate"}, headers=d).is_success
    assert _log(desk, cancelled, desk.dispatcher, outcome="reached").status_code == 409
    assert len(c.get(f"/calls/{cid}/contacts").json()) == 2


def test_the_escalation_package_carries_the_contact_log(desk: Desk) -> None:
    from tests.calls.test_call_flow import _ready_call

    cid = _ready_call(desk)
    assert (
        _log(desk, cid, desk.dispatcher, outcome="no_answer", notes="rang 3 times").status_code
        == 201
    )
    promised = _scheduled(desk, cid, desk.dispatcher, notes="after the clinic")
    escalated = desk.client.post(
        f"/calls/{cid}/escalate", json={"reason": "arcing"}, headers=desk.as_(desk.dispatcher)
    )
    assert escalated.status_code == 201, escalated.text
    contacts = escalated.json()["package"]["contacts"]
    assert [(c["outcome"], c["notes"]) for c in contacts] == [
        ("no_answer", "rang 3 times"),
        (None, "after the clinic"),
    ]
    assert contacts[1]["scheduled_for"] is not None
    assert contacts[1]["owner"] == promised["owner"]["name"]
    assert contacts[0]["number"] == "+44 20 7946 0123"
