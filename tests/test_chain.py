"""The whole chain over HTTP, each step by the person who does it: the dispatcher opens
and escalates, tier 2 accepts and gets a part ordered and a visit booked, the scanner's
primary engineer fixes it on site. Every event reaches a real receiver, signed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.webhooks.models import EventType, OutboxEvent
from app.webhooks.service import SIGNATURE_HEADER, verify
from tests.calls.conftest import Desk, desk
from tests.calls.test_call_flow import _open, _search
from tests.conftest import AppFactory

__all__ = ["desk"]  # the calls' desk fixture, on this module's `client`

SECRET = "chain-secret-0123456789"
# no worker thread (the test sends what is due) and no clock-driven events
NO_THREADS = {"webhook_worker": False, "scheduler": False}
# what this chain emits, in order (the visit's completion resolves the call first)
CHAIN = [
    "call.opened",
    "call.escalated",
    "call.accepted",
    "action.assigned",
    "action.updated",
    "action.updated",
    "work_order.requested",
    "work_order.updated",
    "work_order.updated",
    "call.resolved",
    "work_order.updated",
]
ACTION_EVENTS = ["action.assigned", "action.updated", "action.updated"]
WORK_ORDER_EVENTS = [t for t in CHAIN if t.startswith("work_order.")]
FAULT = "HV cable arcing at the tube end; the cable and its seal need replacing"
PARTS = [{"part_number": "HV-CBL-2200", "description": "HV cable, tube end", "quantity": 1}]
WORK_DONE = "Replaced the HV cable and its seal; ran tube seasoning; no arcing in 20 scans"


# -- a real receiver -----------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One POST the receiver got, and what it answered."""

    answered: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found


class Receiver:
    """An HTTP server on 127.0.0.1 answering each POST with the next code of `answers`
    (204 once they run out), keeping every request."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.got: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = receiver.answers.pop(0) if receiver.answers else 204
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.got.append(Received(code, headers, body))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def client(make_client: AppFactory, database_url: str) -> TestClient:
    """The app on an empty database, its deliveries sent only when the test says."""
    return make_client(database_url, **NO_THREADS)


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def _ok_list(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def _subscribe_to_everything(client: TestClient, url: str) -> int:
    """Subscribe the receiver to every event type there is; the subscription id."""
    every = [str(t) for t in EventType]
    sub = _ok(
        client.post(
            "/webhooks/subscriptions", json={"url": url, "secret": SECRET, "event_types": every}
        )
    )
    assert sorted(sub["event_types"]) == sorted(every)
    return int(sub["id"])


def _deliver_due(client: TestClient) -> None:
    """Send every due delivery through the app's worker, by hand, until none is due."""
    worker = client.app.state.webhooks  # type: ignore[attr-defined]
    for _ in range(20):
        if worker.run_once() == 0:
            return
    pytest.fail("deliveries still due after 20 rounds")


def _outbox_of(client: TestClient, call_id: int) -> list[tuple[int, str]]:
    """(event id, type) of every outbox event about the call, oldest first."""
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        events = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
        return [(e.id, e.type) for e in events if e.payload.get("call_id") == call_id]


def _intervals(call: dict[str, Any], kind: str) -> list[tuple[int, str, bool]]:
    """(person, role, still running) of the call's ownership intervals of one kind."""
    history = call["ownership_history"]
    return [
        (h["person_id"], h["role"], h["ended_at"] is None) for h in history if h["kind"] == kind
    ]


def _kinds_heard(client: TestClient, key: str, call_id: int) -> list[str]:
    """What a person's notifications say of the call, oldest first."""
    page = _ok(client.get("/me/notifications", headers={"X-API-Key": key}))
    items = sorted((n for n in page["items"] if n["call_id"] == call_id), key=lambda n: n["id"])
    return [n["kind"] for n in items]


# -- the chain, step by step ---------------------------------------------------------------


def _dispatcher_escalates(desk: Desk) -> tuple[int, int]:
    """Dispatcher: open a call on the scanner, search, try the top fix (no change),
    escalate to Tara by name; (call id, escalation id)."""
    c, dana = desk.client, desk.as_(desk.dispatcher)
    cid = int(_open(desk)["id"])
    top = _search(desk, cid, query="popping sound and streaks on the images")["results"][0]
    attempt = {"article_id": top["id"], "outcome": "no_change", "note": "still popping"}
    _ok(c.post(f"/calls/{cid}/attempts", json=attempt, headers=dana))
    escalate = {"reason": "arcing persists after warm-up", "engineer_id": desk.engineer_id}
    escalation = _ok(c.post(f"/calls/{cid}/escalate", json=escalate, headers=dana))
    assert escalation["target_engineer_id"] == desk.engineer_id
    return cid, int(escalation["id"])


def _tier2_gets_a_part_ordered(desk: Desk, call_id: int, escalation_id: int) -> None:
    """Tara accepts, notes the fault, and has Omar order the part (he acknowledges and
    completes the action, each step at the version he saw)."""
    c, tara, omar = desk.client, desk.as_(desk.engineer), desk.as_(desk.engineer2)
    accepted = _ok(c.post(f"/escalations/{escalation_id}/accept", headers=tara))
    assert accepted["accepted_by"] == desk.engineer_id
    _ok(c.post(f"/calls/{call_id}/notes", json={"text": FAULT}, headers=tara))
    order_part = {
        "title": "Order HV-CBL-2200",
        "details": "One HV cable, tube end, for the Aurion 64 in CT 2",
        "assignee_id": desk.engineer2_id,
        "due_at": "2031-04-30T17:00:00+01:00",
    }
    assigned = c.post(f"/calls/{call_id}/actions", json=order_part, headers=tara)
    action_id = _ok(assigned)["id"]
    acknowledged = c.post(
        f"/actions/{action_id}/acknowledge", headers=omar | {"If-Match": assigned.headers["ETag"]}
    )
    _ok(acknowledged)
    done = c.post(
        f"/actions/{action_id}/complete",
        json={"outcome": "Ordered; arrives Tuesday"},
        headers=omar | {"If-Match": acknowledged.headers["ETag"]},
    )
    assert _ok(done)["state"] == "done"


def _tier2_requests_a_visit(desk: Desk, call_id: int) -> int:
    """Tara asks for a field visit, the field engineer left to default; its id."""
    visit = {"fault": FAULT, "parts": PARTS, "target_date": "2031-05-02", "notes": "Ask for Ben"}
    order = _ok(
        desk.client.post(
            f"/calls/{call_id}/work-orders", json=visit, headers=desk.as_(desk.engineer)
        )
    )
    assert order["field_engineer"]["id"] == desk.field_id, "the scanner's primary by default"
    return int(order["id"])


def _field_engineer_fixes_it(desk: Desk, work_order_id: int) -> None:
    """Frank schedules the visit, arrives, and completes it fixed, each at its version."""
    c, frank = desk.client, desk.as_(desk.field)
    etag = c.get(f"/work-orders/{work_order_id}", headers=frank).headers["ETag"]
    done = {"work_done": WORK_DONE, "parts_used": PARTS, "result": "fixed"}
    for step, body in (
        ("schedule", {"scheduled_for": "2031-05-01T09:30:00+01:00"}),
        ("arrive", None),
        ("complete", done),
    ):
        response = c.post(
            f"/work-orders/{work_order_id}/{step}", json=body, headers=frank | {"If-Match": etag}
        )
        _ok(response)
        etag = response.headers["ETag"]


def test_the_whole_chain_resolves_the_call_and_every_event_arrives_signed(
    desk: Desk, receiver: Receiver
) -> None:
    c = desk.client
    sub_id = _subscribe_to_everything(c, receiver.url)
    cid, escalation_id = _dispatcher_escalates(desk)
    _tier2_gets_a_part_ordered(desk, cid, escalation_id)
    _field_engineer_fixes_it(desk, _tier2_requests_a_visit(desk, cid))
    _deliver_due(c)

    call = _ok(c.get(f"/calls/{cid}"))
    assert (call["state"], call["resolved_tier"], call["resolution_notes"]) == (
        "resolved",
        3,
        WORK_DONE,
    )
    assert _intervals(call, "current") == [
        (desk.dispatcher_id, "dispatcher", False),
        (desk.engineer_id, "engineer", False),
        (desk.field_id, "field_engineer", True),
    ]
    assert _intervals(call, "follow_up") == [(desk.field_id, "field_engineer", True)]
    assert call["owners"]["current"]["id"] == call["owners"]["follow_up"]["id"] == desk.field_id

    # everyone heard what concerns them; the primary, every step
    assert _kinds_heard(c, desk.field, cid) == CHAIN
    assert _kinds_heard(c, desk.dispatcher, cid) == ["call.accepted", "call.resolved"]
    tara_heard = ["call.escalated", *ACTION_EVENTS, *WORK_ORDER_EVENTS]
    assert _kinds_heard(c, desk.engineer, cid) == tara_heard
    assert _kinds_heard(c, desk.engineer2, cid) == ACTION_EVENTS

    # the outbox holds the chain; each of its events was delivered once, at the first try
    outbox = _outbox_of(c, cid)
    assert [t for _, t in outbox] == CHAIN
    deliveries = _ok_list(c.get("/webhooks/deliveries", params={"subscription_id": sub_id}))
    by_event = {d["event_id"]: d for d in deliveries}
    assert len(by_event) == len(deliveries) == len(outbox)
    for event_id, type_ in outbox:
        d = by_event[event_id]
        assert (d["event_type"], d["status"], d["attempts"]) == (type_, "delivered", 1)
        assert [a["status_code"] for a in d["attempt_log"]] == [204]

    # and the receiver got exactly those, each signed with the subscription's secret
    got = sorted(receiver.got, key=lambda r: int(r.event["id"]))
    assert [(r.event["id"], r.event["type"]) for r in got] == outbox
    for r in got:
        assert r.answered == 204
        assert verify(SECRET, r.headers[SIGNATURE_HEADER.lower()], r.body), r.event["type"]
        assert r.headers["x-helpdesk-event"] == r.event["type"]
        assert r.headers["x-helpdesk-delivery"] == str(by_event[r.event["id"]]["id"])
        assert r.event["data"]["call_id"] == cid
    assert not verify("another-secret-0123", got[0].headers[SIGNATURE_HEADER.lower()], got[0].body)
    data = [r.event["data"] for r in got]
    assert [d["state"] for d in data if "action_id" in d] == ["open", "acknowledged", "done"]
    assert [d["state"] for d in data if "work_order_id" in d] == [
        "requested",
        "scheduled",
        "on_site",
        "completed",
    ]
    resolved = next(d for d, (_, t) in zip(data, outbox, strict=True) if t == "call.resolved")
    assert (resolved["state"], resolved["tier"]) == ("resolved", 3)


def test_a_receiver_answering_500_gets_the_event_again_freshly_signed_on_redelivery(
    make_client: AppFactory, database_url: str, receiver: Receiver
) -> None:
    # a long back-off, so only the re-delivery can send it again during the test
    c = make_client(database_url, webhook_backoff_seconds=600, **NO_THREADS)
    receiver.answers = [500]
    sub_id = _subscribe_to_everything(c, receiver.url)
    site = _ok(c.post("/sites", json={"hospital": "General"}))
    opened = {"caller_name": "Ann", "site_id": site["id"], "modality": "MR", "urgency": "degraded"}
    cid = _ok(c.post("/calls", json=opened))["id"]

    _deliver_due(c)
    [refused] = receiver.got
    assert refused.answered == 500
    [delivery] = _ok_list(c.get("/webhooks/deliveries", params={"subscription_id": sub_id}))
    assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == (
        "pending",
        1,
        "receiver answered 500",
    )
    _deliver_due(c)
    assert len(receiver.got) == 1, "not due again before its back-off"

    again = _ok(c.post(f"/webhooks/deliveries/{delivery['id']}/redeliver"))
    assert again["status"] == "pending"
    _deliver_due(c)
    assert [r.answered for r in receiver.got] == [500, 204]
    accepted = receiver.got[1]
    assert accepted.body == refused.body, "the same event, so the receiver can de-duplicate"
    assert (accepted.event["type"], accepted.event["data"]["call_id"]) == ("call.opened", cid)
    signed = accepted.headers[SIGNATURE_HEADER.lower()]
    assert verify(SECRET, signed, accepted.body, tolerance=60), "signed when it was sent"
    assert not verify(SECRET, signed, accepted.body.replace(b"degraded", b"question"))
    [delivered] = _ok_list(c.get("/webhooks/deliveries", params={"subscription_id": sub_id}))
    assert (delivered["status"], delivered["attempts"], delivered["last_error"]) == (
        "delivered",
        2,
        None,
    )
    assert [a["status_code"] for a in delivered["attempt_log"]] == [500, 204]
