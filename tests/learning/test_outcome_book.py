"""The outcome book's arithmetic: rings, the per-person cap, decay, and nothing without
votes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from app.config import Settings
from app.search.index import Encoder
from app.search.setup import index_from_settings
from embeddings.fusion import FusionWeights, LaneScores, fuse
from embeddings.outcomes import OutcomeBook, Scanner, Vote

NOW = datetime(2026, 12, 1, tzinfo=UTC)
AURION_64 = Scanner("CT", "Nordvale Medical", "Aurion 64")
AURION_128 = Scanner("CT", "Nordvale Medical", "Aurion 128")
OTHER_CT = Scanner("CT", "Kestrel Imaging", "K-16")
MR = Scanner("MR", "Nordvale Medical", "Magna 3T")


def _votes(n: int, fixed: bool, scanner: Scanner, *, voter: str = "", days: float = 0) -> list:
    return [
        Vote(fixed, NOW - timedelta(days=days), voter or f"person {i}", scanner) for i in range(n)
    ]


def test_no_votes_no_record_and_the_same_scores_bit_for_bit() -> None:
    book = OutcomeBook()
    assert book.records([1, 2, 3], AURION_64) == {}
    lanes = LaneScores(
        ids=np.array([1, 2, 3]),
        headline=np.array([0.61, 0.60, 0.2]),
        body=np.array([0.5, 0.52, 0.1]),
        lexical=np.array([3.0, 2.9, 0.0]),
    )
    weights = FusionWeights()
    plain = [(c.id, c.score) for c in fuse(lanes, weights, 3)]
    empty = [(c.id, c.score) for c in fuse(lanes, weights, 3, lambda ids: {})]
    assert plain == empty
    book.replace({2: _votes(4, True, AURION_64)}, NOW)
    learned = fuse(lanes, weights, 3, lambda ids: book.adjustments(ids, AURION_64))
    assert [c.id for c in learned][:2] == [2, 1]  # a close second with a fix record goes up


def test_a_record_counts_most_on_its_own_model_then_backs_off() -> None:
    book = OutcomeBook()
    book.replace({7: _votes(6, True, AURION_64)}, NOW)
    on_model = book.records([7], AURION_64)[7]
    sibling = book.records([7], AURION_128)[7]
    other_maker = book.records([7], OTHER_CT)[7]
    other_modality = book.records([7], MR)[7]
    anywhere = book.records([7], None)[7]
    assert (on_model.fixed, on_model.tried, on_model.where) == (6, 6, "Aurion 64")
    assert (sibling.fixed, sibling.where) == (6, "Nordvale Medical CT")
    assert (other_maker.where, other_modality.where, anywhere.where) == ("CT", "", "")
    # the same six fixes move a search on their own model most, then less the further away
    assert 1 >= on_model.adjustment > sibling.adjustment > other_maker.adjustment > 0
    assert other_maker.adjustment > other_modality.adjustment > 0
    # a search for no scanner in particular counts every call alike
    assert anywhere.adjustment == on_model.adjustment


def test_a_model_spelt_another_way_is_the_same_model() -> None:
    book = OutcomeBook()
    book.replace({7: _votes(6, True, AURION_128)}, NOW)
    same = book.records([7], AURION_128)[7]
    for spelt in ("AURION 128", "aurion128", "Aurion-128"):
        other = book.records([7], Scanner("ct", "NORDVALE  medical", spelt))[7]
        assert (other.fixed, other.adjustment) == (same.fixed, same.adjustment)


def test_failures_push_down_and_an_untried_article_stays_between() -> None:
    book = OutcomeBook()
    book.replace({1: _votes(5, True, AURION_64), 2: _votes(5, False, AURION_64)}, NOW)
    adjust = book.adjustments([1, 2, 3], AURION_64)
    assert adjust[1] > 0 > adjust[2]
    assert 3 not in adjust  # untried: no adjustment, so it keeps its place between them


def test_one_person_alone_moves_nothing_however_many_calls() -> None:
    one_call, fifty_calls, five_people = OutcomeBook(), OutcomeBook(), OutcomeBook()
    one_call.replace({1: _votes(1, True, AURION_64, voter="busy")}, NOW)
    fifty_calls.replace({1: _votes(50, True, AURION_64, voter="busy")}, NOW)
    five_people.replace({1: _votes(5, True, AURION_64)}, NOW)
    single = one_call.records([1], AURION_64)[1]
    busy = fifty_calls.records([1], AURION_64)[1]
    many = five_people.records([1], AURION_64)[1]
    assert busy.adjustment == single.adjustment == 0.0
    assert (busy.fixed, busy.tried) == (50, 50)  # what the why says: every call counted
    assert many.adjustment > 0


def test_a_second_person_counts_once_however_many_calls_each() -> None:
    two_once, two_busy = OutcomeBook(), OutcomeBook()
    two_once.replace(
        {1: _votes(1, True, AURION_64, voter="a") + _votes(1, True, AURION_64, voter="b")}, NOW
    )
    two_busy.replace(
        {1: _votes(9, True, AURION_64, voter="a") + _votes(9, True, AURION_64, voter="b")}, NOW
    )
    assert (
        two_busy.records([1], AURION_64)[1].adjustment
        == two_once.records([1], AURION_64)[1].adjustment
        > 0
    )


def test_old_outcomes_count_less() -> None:
    fresh, old = OutcomeBook(half_life_days=30), OutcomeBook(half_life_days=30)
    fresh.replace({1: _votes(4, True, AURION_64)}, NOW)
    old.replace({1: _votes(4, True, AURION_64, days=60)}, NOW)
    assert fresh.adjustments([1], AURION_64)[1] > old.adjustments([1], AURION_64)[1] > 0


def test_replacing_with_no_votes_forgets_the_article() -> None:
    book = OutcomeBook()
    book.replace({1: _votes(3, True, AURION_64), 2: _votes(1, False, AURION_64)}, NOW)
    book.replace({1: []}, NOW)
    assert set(book.records([1, 2], AURION_64)) == {2}
    book.reset({}, NOW)
    assert len(book) == 0


def test_the_settings_reach_the_index_book(encoder: Encoder, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        outcome_weight=0.2,
        outcome_half_life_days=30,
        outcome_votes_per_person=2,
    )
    index = index_from_settings(settings, encoder)
    try:
        assert index.outcomes.half_life_days == 30
        assert index.outcomes.per_voter == 2
        assert index.weights.outcome == 0.2
    finally:
        index.close()
