"""Resolved calls worded like a new call's query, on the same scanner model, lift the
article that fixed them (through the API, on both databases): several people's calls do,
one person's alone and unlike calls do not, and the "why" says it."""

from __future__ import annotations

from tests.calls.conftest import Desk
from tests.calls.test_call_flow import _open
from tests.conftest import key_for
from tests.learning.test_learned_ranking import _ranked, _settled

LIKE_QUERY = "the gantry made a noise and then there were streaks on the images"
UNLIKE = "patient table will not move into the bore, stuck at the home position"


def _resolve(desk: Desk, key: str, symptom: str, article: int) -> None:
    call = _open(desk, symptom=symptom)["id"]
    done = desk.client.post(
        f"/calls/{call}/resolve", json={"article_id": article}, headers={"X-API-Key": key}
    )
    assert done.status_code == 200, done.text


def test_similar_past_calls_lift_the_article_that_fixed_them(desk: Desk) -> None:
    before = _ranked(desk)
    assert all(hit["why"]["similar_calls"] is None for hit in before.values())
    target = list(before)[3]
    people = [desk.dispatcher] + [key_for(desk.client, "dispatcher")[1] for _ in range(3)]
    for key in people:
        _resolve(desk, key, LIKE_QUERY, target)
    _settled(desk)

    after = _ranked(desk)
    similar = after[target]["why"]["similar_calls"]
    assert similar is not None
    assert similar["fixed"] == 4
    assert similar["adjustment"] > 0
    assert "fixed 4 similar past calls on this model" in after[target]["why"]["summary"]
    assert all(after[i]["why"]["similar_calls"] is None for i in after if i != target)
    # beyond what its record alone can do (OUTCOME_WEIGHT, 0.3)
    assert after[target]["score"] - before[target]["score"] > 0.3
    assert list(after).index(target) < 3


def test_one_person_or_unlike_calls_lift_nothing(desk: Desk) -> None:
    before = _ranked(desk)
    first, second = list(before)[2:4]
    for _ in range(5):
        _resolve(desk, desk.dispatcher, LIKE_QUERY, first)
    others = [key_for(desk.client, "dispatcher")[1] for _ in range(4)]
    for key in others:
        _resolve(desk, key, UNLIKE, second)
    _settled(desk)
    after = _ranked(desk)
    alone = after[first]["why"]["similar_calls"]
    assert alone is not None
    assert (alone["fixed"], alone["adjustment"]) == (5, 0.0)
    assert after[second]["why"]["similar_calls"] is None
    assert after[second]["why"]["past_calls"]["fixed"] == 4  # its record still counts
