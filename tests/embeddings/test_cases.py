"""The case book alone: rings before similarity, the minimum similarity, exclusions,
replacing and removing cases while readers read, and 100,000 cases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pytest

from embeddings.cases import Case, CaseBook
from embeddings.outcomes import Scanner

AT = datetime(2026, 12, 1, tzinfo=UTC)
AURION_64 = Scanner("CT", "Nordvale Medical", "Aurion 64")
AURION_128 = Scanner("CT", "Nordvale Medical", "Aurion 128")
HELIX_CT = Scanner("CT", "Helix Imaging", "HX-Scan 32")
MR = Scanner("MR", "Nordvale Medical", "Magnara 1.5T")
DIM = 8


def _unit(*values: float) -> npt.NDArray[np.float32]:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(values)] = values
    return v / np.linalg.norm(v)


def _case(case_id: int, scanner: Scanner, article: int | None = None) -> Case:
    return Case(case_id, scanner, article, AT, f"person {case_id}")


def test_the_same_model_first_then_maker_then_modality_then_any_each_by_similarity() -> None:
    book = CaseBook(min_similarity=0.5)
    query = _unit(1.0)
    close, closer = _unit(1.0, 0.6), _unit(1.0, 0.2)
    cases = [
        _case(1, MR),
        _case(2, HELIX_CT),
        _case(3, AURION_128),
        _case(4, AURION_64),
        _case(5, AURION_64),
        _case(6, HELIX_CT),
    ]
    book.replace(cases, np.stack([closer, closer, closer, close, closer, close]))
    found = book.nearest(query, AURION_64, 10)
    assert [(n.case.id, n.ring_name) for n in found] == [
        (5, "same model"),
        (4, "same model"),
        (3, "same maker"),
        (2, "same modality"),
        (6, "same modality"),
        (1, "other"),
    ]
    assert found[0].similarity == pytest.approx(float(closer @ query))
    assert found[0].case.resolved_by == "person 5"
    assert [n.case.id for n in book.nearest(query, AURION_64, 3)] == [5, 4, 3]
    # a search that knows only the modality has no model or maker ring
    assert [n.ring for n in book.nearest(query, Scanner("CT"), 10)] == [2, 2, 2, 2, 2, 3]
    assert [n.ring for n in book.nearest(query, None, 10)] == [3] * 6


def test_below_the_minimum_similarity_and_excluded_cases_are_left_out() -> None:
    book = CaseBook(min_similarity=0.5)
    book.replace(
        [_case(1, AURION_64), _case(2, AURION_64), _case(3, AURION_64)],
        np.stack([_unit(1.0, 0.1), _unit(0.2, 1.0), _unit(1.0, 0.3)]),
    )
    assert [n.case.id for n in book.nearest(_unit(1.0), AURION_64, 5)] == [1, 3]
    assert [n.case.id for n in book.nearest(_unit(1.0), AURION_64, 5, exclude={1})] == [3]
    assert book.nearest(_unit(0.0, 0.0, 1.0), AURION_64, 5) == []
    assert book.nearest(_unit(1.0), AURION_64, 0) == []
    assert CaseBook().nearest(_unit(1.0), AURION_64, 3) == []


def test_replace_moves_a_case_remove_forgets_it_reset_holds_exactly() -> None:
    book = CaseBook(min_similarity=0.5)
    book.replace([_case(1, AURION_64, article=7)], _unit(1.0)[None, :])
    assert book.get(1) == _case(1, AURION_64, article=7)
    book.replace([_case(1, MR, article=8)], _unit(1.0)[None, :])
    assert len(book) == 1
    assert book.nearest(_unit(1.0), AURION_64, 3)[0].case.article_id == 8
    assert book.nearest(_unit(1.0), AURION_64, 3)[0].ring_name == "other"
    book.remove([1, 99])
    assert len(book) == 0
    assert 1 not in book
    assert book.nearest(_unit(1.0), AURION_64, 3) == []
    book.replace([_case(2, AURION_64), _case(3, AURION_64)], np.stack([_unit(1.0)] * 2))
    book.reset([_case(4, AURION_64)], _unit(1.0)[None, :])
    assert [c.id for c in book.cases()] == [4]
    with pytest.raises(ValueError, match="dimensions"):
        book.replace([_case(5, AURION_64)], np.ones((1, DIM + 1), dtype=np.float32))


def test_many_replacements_compact_and_readers_never_see_a_half_made_change() -> None:
    book = CaseBook(min_similarity=0.0)
    query = _unit(1.0)
    stop = threading.Event()
    seen: list[int] = []
    twice: list[list[int]] = []

    def read() -> None:
        while not stop.is_set():
            ids = [n.case.id for n in book.nearest(query, AURION_64, 50)]
            seen.append(len(ids))
            if len(ids) != len(set(ids)):
                twice.append(ids)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        for round_ in range(300):
            book.replace(
                [_case(i, AURION_64) for i in range(40)], np.stack([_unit(1.0, round_)] * 40)
            )
            book.remove(range(30, 40))
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert len(book) == 30
    assert twice == []
    assert set(seen) <= {0, 30, 40}
    assert book._state is not None
    assert book._state.count < 300 * 40  # dead rows were compacted away


def test_a_hundred_thousand_cases_in_one_product() -> None:
    rng = np.random.default_rng(7)
    n, dim = 100_000, 384
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scanners = [AURION_64, HELIX_CT, MR]
    cases = [_case(i, scanners[i % 3]) for i in range(n)]
    book = CaseBook(min_similarity=0.4)
    book.replace(cases, vectors)
    # near copies of three cases, one per ring
    query = vectors[10] + vectors[11] + vectors[12]
    query /= np.linalg.norm(query)
    found = book.nearest(query, HELIX_CT, 3)
    assert [(n.case.id, n.ring_name) for n in found] == [
        (10, "same model"),
        (12, "same modality"),
        (11, "other"),
    ]
