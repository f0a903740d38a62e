import numpy as np
import pytest

from embeddings.fusion import FusionWeights, LaneScores, fuse

Row = tuple[int, float, float, float]  # id, headline, body, BM25


def _lanes(rows: list[Row], **exact: dict[int, list[str]]) -> LaneScores:
    ids, heads, bodies, lexical = zip(*rows, strict=True)
    return LaneScores(
        np.array(ids, dtype=np.int64),
        np.array(heads, dtype=np.float64),
        np.array(bodies, dtype=np.float64),
        np.array(lexical, dtype=np.float64),
        **exact,
    )


def test_fuse_scores_each_candidate_by_the_documented_formula() -> None:
    rng = np.random.default_rng(3)
    rows = [
        (int(i), float(np.float32(h)), float(np.float32(b)), float(x))
        for i, h, b, x in zip(
            rng.permutation(1000)[:60],
            rng.random(60),
            rng.random(60),
            rng.random(60) * 9,
            strict=True,
        )
    ]
    codes = {rows[7][0]: ["HV-417"]}
    models = {rows[3][0]: ["Aquilion One"], rows[7][0]: ["Aquilion One"]}
    w = FusionWeights()

    got = fuse(_lanes(rows, codes=codes, models=models), w, k=60)

    top = max(x for *_, x in rows)
    expected = {
        i: w.headline * h
        + w.body * b
        + w.lexical * (x / top)
        + (w.model if i in models else 0.0)
        + (w.code if i in codes else 0.0)
        for i, h, b, x in rows
    }
    # exactly the per-candidate float64 arithmetic, best first, ties by id
    assert [(c.id, c.score) for c in got] == sorted(expected.items(), key=lambda t: (-t[1], t[0]))
    assert got[0].id == rows[7][0]
    assert got[0].codes == ["HV-417"]
    assert got[0].models == ["Aquilion One"]
    by_id = {c.id: c for c in got}
    assert by_id[rows[0][0]].lexical_norm == rows[0][3] / top
    assert by_id[rows[0][0]].headline == rows[0][1]


def test_fuse_keeps_only_the_k_best() -> None:
    rows = [(i, 0.1 * i, 0.0, 0.0) for i in range(1, 10)]

    got = fuse(_lanes(rows), FusionWeights(), k=3)

    assert [c.id for c in got] == [9, 8, 7]


def test_fuse_breaks_ties_by_id() -> None:
    rows = [(42, 0.5, 0.5, 1.0), (7, 0.5, 0.5, 1.0), (19, 0.5, 0.5, 1.0)]

    assert [c.id for c in fuse(_lanes(rows), FusionWeights(), k=3)] == [7, 19, 42]


@pytest.mark.parametrize("lexical", [0.0, -0.0])
def test_fuse_without_any_keyword_score_gives_zero_keyword_evidence(lexical: float) -> None:
    rows = [(1, 0.9, 0.2, lexical), (2, 0.3, 0.8, lexical)]

    got = fuse(_lanes(rows), FusionWeights(), k=2)

    assert [c.lexical_norm for c in got] == [0.0, 0.0]
    assert [c.id for c in got] == [1, 2]


def test_fuse_of_no_candidates_is_empty() -> None:
    empty = np.zeros(0)
    lanes = LaneScores(np.zeros(0, dtype=np.int64), empty, empty, empty)
    assert fuse(lanes, FusionWeights(), 5) == []
