"""Missed response and resolution targets, and overdue actions: noticed once, told to
the people concerned, on the timeline and as webhook events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from app.db import transaction, utcnow
from app.targets import service as targets
from app.webhooks.models import OutboxEvent
from tests.actions.test_actions import _assigned
from tests.calls.conftest import Desk
from tests.calls.test_call_flow import _open, _ready_call
from tests.conftest import ROOT, AppFactory

URGENCIES = ("system_down", "degraded", "intermittent", "question")


@pytest.fixture
def client(make_client: AppFactory, database_url: str) -> TestClient:
    """The app without its scheduler thread: each test looks for breaches itself."""
    return make_client(database_url, scheduler=False)


def _check(desk: Desk, at: datetime) -> targets.Found:
    """One look for breaches as if it were `at` (committed, like the worker's)."""
    app: Any = desk.client.app
    settings = app.state.settings
    with transaction(app.state.sessions) as session:
        return targets.check(
            session=session,
            response_minutes=settings.response_target_minutes,
            resolution_minutes=settings.resolution_target_minutes,
            now=at,
        )


def _events(desk: Desk, type: str) -> list[dict[str, Any]]:
    with desk.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        rows = session.scalars(select(OutboxEvent).where(OutboxEvent.type == type))
        return [e.payload for e in rows]


def _notified(desk: Desk, key: str, kind: str) -> list[dict[str, Any]]:
    response = desk.client.get("/me/notifications", headers=desk.as_(key))
    assert response.status_code == 200, response.text
    return [n for n in response.json()["items"] if n["kind"] == kind]


def _escalate(desk: Desk, **body: object) -> dict[str, Any]:
    cid = _ready_call(desk)
    response = desk.client.post(
        f"/calls/{cid}/escalate",
        json={"reason": "arcing"} | body,
        headers=desk.as_(desk.dispatcher),
    )
    assert response.status_code == 201, response.text
    escalation: dict[str, Any] = response.json()
    return escalation


def test_missed_response_is_told_once_to_the_target_and_the_primary(desk: Desk) -> None:
    escalation = _escalate(desk, engineer_id=desk.engineer_id)
    cid = escalation["call_id"]
    assert _check(desk, utcnow() + timedelta(minutes=29)).total == 0  # system down: 30 min

    late = utcnow() + timedelta(minutes=31)
    assert _check(desk, late) == targets.Found(response=1)
    assert _check(desk, late + timedelta(minutes=5)) == targets.Found()  # claimed once

    [event] = _events(desk, "call.target_missed")
    assert (event["call_id"], event["target"], event["escalation_id"]) == (
        cid,
        "response",
        escalation["id"],
    )
    assert event["target_minutes"] == 30
    assert event["minutes_late"] >= 0
    assert event["engineer_id"] == desk.engineer_id
    timeline = desk.client.get(f"/calls/{cid}").json()["timeline"]
    missed = [e for e in timeline if e["kind"] == "target_missed"]
    assert [(e["actor_name"], e["data"]["target"]) for e in missed] == [("Scheduler", "response")]
    for key in (desk.engineer, desk.field):  # the named engineer and the scanner's primary
        [note] = _notified(desk, key, "call.target_missed")
        assert note["call_id"] == cid
        assert "response target" in note["text"]
    assert _notified(desk, desk.engineer2, "call.target_missed") == []


def test_an_accepted_escalation_misses_no_response_target(desk: Desk) -> None:
    escalation = _escalate(desk)
    taken = desk.client.post(
        f"/escalations/{escalation['id']}/accept", headers=desk.as_(desk.engineer)
    )
    assert taken.status_code == 200, taken.text
    assert _check(desk, utcnow() + timedelta(minutes=31)) == targets.Found()


def test_a_queued_escalation_past_its_target_tells_the_whole_queue(desk: Desk) -> None:
    _escalate(desk)
    assert _check(desk, utcnow() + timedelta(minutes=31)) == targets.Found(response=1)
    for key in (desk.engineer, desk.engineer2):
        assert len(_notified(desk, key, "call.target_missed")) == 1


def test_resolution_target_runs_from_the_opening_until_resolved(desk: Desk) -> None:
    worked = _open(desk)  # system down: 480 minutes by default
    resolved = _open(desk, urgency="question")
    done = desk.client.post(
        f"/calls/{resolved['id']}/resolve",
        json={"reason": "user_training", "notes": "showed the menu"},
        headers=desk.as_(desk.dispatcher),
    )
    assert done.status_code == 200, done.text
    assert _check(desk, utcnow() + timedelta(minutes=479)) == targets.Found()
    late = utcnow() + timedelta(days=30)
    assert _check(desk, late) == targets.Found(resolution=1)
    [event] = _events(desk, "call.target_missed")
    assert (event["call_id"], event["target"]) == (worked["id"], "resolution")
    assert (event["owner_id"], event["follow_up_owner_id"]) == (desk.dispatcher_id, desk.field_id)
    for key in (desk.dispatcher, desk.field):  # who works it and who follows up
        assert len(_notified(desk, key, "call.target_missed")) == 1


def test_overdue_action_is_told_once_to_its_assignee_assigner_and_primary(desk: Desk) -> None:
    cid = _open(desk)["id"]
    due = utcnow() + timedelta(hours=2)
    action = _assigned(desk, cid, due_at=due.isoformat())
    assert _check(desk, due - timedelta(minutes=1)).overdue_actions == 0
    assert _check(desk, due + timedelta(minutes=10)).overdue_actions == 1
    assert _check(desk, due + timedelta(minutes=20)).overdue_actions == 0
    [event] = _events(desk, "action.overdue")
    assert (event["action_id"], event["call_id"], event["overdue"]) == (action["id"], cid, True)
    assert event["minutes_late"] >= 10
    for key in (desk.engineer, desk.dispatcher, desk.field):
        [note] = _notified(desk, key, "action.overdue")
        assert "overdue" in note["text"]


def test_a_done_action_is_never_overdue(desk: Desk) -> None:
    cid = _open(desk)["id"]
    due = utcnow() + timedelta(hours=2)
    action = _assigned(desk, cid, due_at=due.isoformat())
    taken = desk.client.post(
        f"/actions/{action['id']}/acknowledge", headers=desk.as_(desk.engineer)
    )
    assert taken.status_code == 200, taken.text
    done = desk.client.post(
        f"/actions/{action['id']}/complete",
        json={"outcome": "ordered"},
        headers=desk.as_(desk.engineer),
    )
    assert done.status_code == 200, done.text
    assert _check(desk, due + timedelta(hours=1)).overdue_actions == 0


def test_the_scheduler_thread_notices_a_breach_on_its_own(
    make_client: AppFactory, database_url: str
) -> None:
    from tests.calls.conftest import make_desk

    instant = dict.fromkeys(URGENCIES, 0)
    client = make_client(database_url, response_target_minutes=instant, target_check_seconds=0.05)
    desk = make_desk(client)
    worker = client.app.state.targets  # type: ignore[attr-defined]
    escalation = _escalate(desk)
    # two rounds finished after the escalation: one started after its commit
    assert worker.wait_rounds(worker.rounds + 2, timeout=30)
    [event] = _events(desk, "call.target_missed")
    assert (event["escalation_id"], event["target"]) == (escalation["id"], "response")


CALLS = 12


def test_two_processes_claim_each_breach_once(desk: Desk, database_url: str) -> None:
    """Two processes released together on one database (PostgreSQL: row locks; SQLite:
    its file lock) look for the same breaches; each is emitted exactly once."""
    due = utcnow() + timedelta(hours=1)
    for _ in range(CALLS):
        escalation = _escalate(desk)
        _assigned(desk, escalation["call_id"], due_at=due.isoformat())
    at = (utcnow() + timedelta(days=30)).isoformat()
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "tests.targets.claimer", database_url, at]
    workers = [
        subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:  # both connected and waiting
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    claims = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    for target, expected in (("response", CALLS), ("resolution", CALLS)):
        assert sum(c[target] for c in claims) == expected, claims
    assert sum(c["overdue_actions"] for c in claims) == CALLS, claims

    missed = _events(desk, "call.target_missed")
    pairs = [(e["call_id"], e["target"]) for e in missed]
    assert len(pairs) == len(set(pairs)) == 2 * CALLS
    overdue = [e["action_id"] for e in _events(desk, "action.overdue")]
    assert len(overdue) == len(set(overdue)) == CALLS
    # the primary heard of each breach once
    assert len(_notified(desk, desk.field, "call.target_missed")) == 2 * CALLS


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_look_that_saw_the_breach_before_the_claim_committed_emits_nothing(
    desk: Desk, database_url: str
) -> None:
    """The race itself, ordered: B reads the breach while A's claim is uncommitted, then
    waits on A's row lock; once A commits, B's claim matches nothing and B emits nothing."""
    _escalate(desk)
    app: Any = desk.client.app
    at = utcnow() + timedelta(minutes=31)

    def look(session: Any) -> targets.Found:
        return targets.check(
            session=session,
            response_minutes=app.state.settings.response_target_minutes,
            resolution_minutes=app.state.settings.resolution_target_minutes,
            now=at,
        )

    with app.state.sessions() as a, app.state.sessions() as b:
        assert look(a) == targets.Found(response=1)  # claimed, not yet committed
        b_pid = b.connection().exec_driver_sql("select pg_backend_pid()").scalar()
        found: list[targets.Found] = []
        racer = threading.Thread(target=lambda: found.append(look(b)))
        racer.start()
        with app.state.sessions() as watcher:
            waiting = "select wait_event_type from pg_stat_activity where pid = :pid"
            deadline = time.monotonic() + 30
            while watcher.execute(text(waiting), {"pid": b_pid}).scalar() != "Lock":
                assert time.monotonic() < deadline, "B never waited on A's claim"
                watcher.rollback()
                threading.Event().wait(0.01)
        a.commit()
        racer.join(timeout=30)
        b.commit()
    assert found == [targets.Found()]
    assert len(_events(desk, "call.target_missed")) == 1
