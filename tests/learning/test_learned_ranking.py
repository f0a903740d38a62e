"""Outcomes recorded on calls move the ranking of the next call on that scanner model,
through the API, on both databases: a fix up, a failure down, one person's votes capped,
nothing moved without outcomes, and the "why" says it."""

from __future__ import annotations

from typing import Any

from app.feed import service as feed_service
from tests.calls.conftest import Desk
from tests.calls.test_call_flow import _open, _search
from tests.conftest import key_for

QUERY = "streaks on the images after a noise from the gantry"


def _settled(desk: Desk) -> None:
    """Wait until this process has applied every change in the feed (outcomes included)."""
    app: Any = desk.client.app
    with app.state.sessions() as session:
        end = feed_service.latest(session=session)
    assert app.state.feed.wait_for(end, 10), "the feed was not applied within 10 s"


def _ranked(desk: Desk, **call: object) -> dict[int, dict]:
    # without the scanner as a filter: more articles to rank (its record still counts)
    found = _search(desk, _open(desk, **call)["id"], query=QUERY, limit=10, use_asset_filters=False)
    return {hit["id"]: hit for hit in found["results"]}


def _work_call(desk: Desk, key: str, failed: int, fixed: int) -> None:
    """A call on the desk's scanner where `failed` was tried without success, then
    `fixed` fixed it (recorded with `key`)."""
    call = _open(desk)["id"]
    _search(desk, call, query=QUERY)
    for article, outcome in ((failed, "no_change"), (fixed, "fixed")):
        tried = desk.client.post(
            f"/calls/{call}/attempts",
            json={"article_id": article, "outcome": outcome},
            headers={"X-API-Key": key},
        )
        assert tried.status_code == 201, tried.text


def test_outcomes_on_a_model_move_the_next_calls_ranking(desk: Desk) -> None:
    before = _ranked(desk)
    assert all(hit["why"]["past_calls"] is None for hit in before.values())
    again = _ranked(desk)
    assert {i: h["score"] for i, h in again.items()} == {i: h["score"] for i, h in before.items()}
    order = list(before)
    first, third = order[0], order[2]

    dispatchers = [desk.dispatcher] + [key_for(desk.client, "dispatcher")[1] for _ in range(2)]
    for n in range(6):
        _work_call(desk, dispatchers[n % 3], failed=first, fixed=third)
    _settled(desk)

    after = _ranked(desk)
    assert after[third]["score"] > before[third]["score"]
    assert after[first]["score"] < before[first]["score"]
    assert list(after).index(third) <= order.index(third)
    record = after[third]["why"]["past_calls"]
    assert (record["fixed"], record["tried"], record["where"]) == (6, 6, "Aurion 64")
    assert record["adjustment"] > 0
    assert "fixed 6 of 6 calls on Aurion 64" in after[third]["why"]["summary"]
    failed = after[first]["why"]["past_calls"]
    assert (failed["fixed"], failed["tried"]) == (0, 6)
    assert failed["adjustment"] < 0
    # articles nobody tried keep their score
    untried = set(before) & set(after) - {first, third}
    assert untried
    assert all(after[i]["score"] == before[i]["score"] for i in untried)


def test_one_dispatcher_alone_moves_nothing_however_many_calls(desk: Desk) -> None:
    before = _ranked(desk)
    first, second = list(before)[:2]
    for _ in range(6):
        _work_call(desk, desk.dispatcher, failed=first, fixed=second)
    _settled(desk)
    after = _ranked(desk)
    record = after[second]["why"]["past_calls"]
    assert (record["fixed"], record["tried"], record["adjustment"]) == (6, 6, 0.0)
    assert after[second]["score"] == before[second]["score"]
    assert after[first]["score"] == before[first]["score"]
    # a second dispatcher's fix on one more call: now it counts
    other = key_for(desk.client, "dispatcher")[1]
    _work_call(desk, other, failed=first, fixed=second)
    _settled(desk)
    assert _ranked(desk)[second]["score"] > before[second]["score"]


def test_a_reopened_call_withdraws_its_fix(desk: Desk) -> None:
    order = list(_ranked(desk))
    call = _open(desk)["id"]
    _search(desk, call, query=QUERY)
    dispatcher = desk.as_(desk.dispatcher)
    resolved = desk.client.post(
        f"/calls/{call}/resolve", json={"article_id": order[1]}, headers=dispatcher
    )
    assert resolved.status_code == 200, resolved.text
    _settled(desk)
    assert _ranked(desk)[order[1]]["why"]["past_calls"]["fixed"] == 1
    reopened = desk.client.post(
        f"/calls/{call}/reopen", json={"reason": "fault came back"}, headers=dispatcher
    )
    assert reopened.status_code == 200, reopened.text
    _settled(desk)
    assert _ranked(desk)[order[1]]["why"]["past_calls"] is None
