"""One escalation per Idempotency-Key, whatever the timing; and a key never reused for
another request."""

from __future__ import annotations

import threading

from tests.calls.conftest import Desk
from tests.calls.test_call_flow import _ready_call


def test_six_simultaneous_retries_make_one_escalation(desk: Desk) -> None:
    cid = _ready_call(desk)
    headers = desk.as_(desk.dispatcher) | {"Idempotency-Key": "storm-1"}
    barrier = threading.Barrier(6)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def send() -> None:
        barrier.wait()
        response = desk.client.post(
            f"/calls/{cid}/escalate", json={"reason": "arcing persists"}, headers=headers
        )
        with lock:
            answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(code for code, _ in answers)
    assert len(codes) == 6
    assert set(codes) <= {200, 201, 409}, answers
    assert codes.count(201) == 1, answers
    ids = {body["id"] for code, body in answers if code in (200, 201)}
    call = desk.client.get(f"/calls/{cid}").json()
    assert call["escalation_ids"] == sorted(ids)
    assert [e["kind"] for e in call["timeline"]].count("escalated") == 1
    refused = [body for code, body in answers if code == 409]
    assert all(body["status"] == 409 and body["detail"] for body in refused)


def test_a_key_reused_with_another_body_is_refused(desk: Desk) -> None:
    cid = _ready_call(desk)
    headers = desk.as_(desk.dispatcher) | {"Idempotency-Key": "esc-9"}
    first = desk.client.post(f"/calls/{cid}/escalate", json={"reason": "x"}, headers=headers)
    assert first.status_code == 201
    other = desk.client.post(
        f"/calls/{cid}/escalate", json={"reason": "another reason"}, headers=headers
    )
    assert other.status_code == 422, other.text
    assert other.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in other.json()["errors"]] == ["Idempotency-Key"]
    same = desk.client.post(f"/calls/{cid}/escalate", json={"reason": "x"}, headers=headers)
    assert (same.status_code, same.json()["id"]) == (200, first.json()["id"])


def test_simultaneous_searches_on_one_call_are_all_answered_and_counted(desk: Desk) -> None:
    """A double click, or a search beside an attempt, on a call: each is answered and
    each search counts once for every article it showed."""
    from sqlalchemy import select

    from app.calls.models import CallArticle
    from tests.calls.test_call_flow import _open

    cid = _open(desk)["id"]
    searches = 6
    barrier = threading.Barrier(searches)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def search() -> None:
        barrier.wait()
        response = desk.client.post(
            f"/calls/{cid}/search", json={"query": "popping"}, headers=desk.as_(desk.dispatcher)
        )
        with lock:
            answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=search) for _ in range(searches)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [code for code, _ in answers] == [200] * searches, answers
    shown: dict[int, int] = {}
    for _, body in answers:
        for hit in body["results"]:
            shown[hit["id"]] = shown.get(hit["id"], 0) + 1
    with desk.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        links = session.scalars(select(CallArticle).where(CallArticle.call_id == cid)).all()
    assert {x.article_id: x.suggested for x in links} == shown
