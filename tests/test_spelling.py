"""Spelling correction of the BM25 lane's query against the library's own words."""

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from embeddings.encoder import Encoder
from embeddings.fusion import FusionWeights
from embeddings.hybrid import Document, HybridIndex
from embeddings.store import VOCABULARY, SyncReport

FIELDS = {"modality": False}
GLOSSARY = [["e-stop", "estop", "emergency stop"]]

DOCS = [
    Document(
        1,
        1,
        "Streaks across the pictures",
        "White streaks run across the pictures after the detector was dropped.",
        {"modality": ["XR"]},
    ),
    Document(
        2,
        1,
        "Table will not move",
        "The patient table does not move into the gantry; error HV-417 on the console.",
        {"modality": ["CT"]},
        codes=["HV-417"],
        models=["Aurion 128"],
    ),
    Document(
        3,
        1,
        "Knee coil not recognised",
        "The knee coil is not detected by the table socket after an emergency stop.",
        {"modality": ["MR"]},
    ),
]
BY_ID = {d.id: d for d in DOCS}
LEXICAL = FusionWeights().lexical_only()


def _index(encoder: Encoder, path: Path | None = None) -> HybridIndex:
    return HybridIndex(encoder, path, keyword_fields=FIELDS, glossary_groups=GLOSSARY)


def _saved(encoder: Encoder, path: Path) -> None:
    """DOCS indexed, saved to `path` and closed, as a previous run leaves them."""
    index = _index(encoder, path)
    index.upsert(DOCS)
    index.save()
    index.close()


class CountingEncoder:
    """The real encoder, counting the texts it is asked to encode."""

    def __init__(self, inner: Encoder) -> None:
        self.inner, self.name, self.dim, self.texts = inner, inner.name, inner.dim, 0

    def encode(self, texts: Sequence[str], *, max_tokens: int | None = None) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.encode(texts, max_tokens=max_tokens)


def test_misspelled_query_finds_what_the_right_spelling_finds(encoder: Encoder) -> None:
    index = _index(encoder)
    index.upsert(DOCS)
    corrected = index.correct("pictres have streeks")
    assert corrected.text == "pictures have streaks"
    assert corrected.changes == (("pictres", "pictures"), ("streeks", "streaks"))
    typed = index.search("pictres have streeks", 3, weights=LEXICAL)
    right = index.search("pictures have streaks", 3, weights=LEXICAL)
    assert [h.id for h in typed] == [h.id for h in right] == [1]
    assert index.search("pictres have streeks", 1)[0].id == 1


def test_known_words_codes_model_names_and_glossary_words_are_left_as_typed(
    encoder: Encoder,
) -> None:
    index = _index(encoder)
    index.upsert(DOCS)
    assert index.correct("tabel").text == "table"  # alone, a typo
    for text in (
        "the patient table does not move",  # library words
        "HV-417 on the Aurion 128",  # an error code, a model name
        "error tabel-417 on the console",  # a code of letters and digits
        "error TABEL on the console",  # an acronym typed in capitals
        "pressed the estop",  # a glossary word no article uses
        "although it worked yesterday",  # everyday English the library lacks
    ):
        assert index.correct(text).text == text, text
        assert not index.correct(text)
    # beside a misspelled word, only that word changes, the rest keeps its case
    assert index.correct("Aurion 128 tabel shows HV-417").text == "Aurion 128 table shows HV-417"


def test_correction_off_leaves_the_bm25_lane_the_typed_text(encoder: Encoder) -> None:
    index = _index(encoder)
    index.upsert(DOCS)
    on = {h.id: h for h in index.search("pictres have streeks", 3)}
    off = {
        h.id: h
        for h in index.search("pictres have streeks", 3, weights=FusionWeights(spelling=False))
    }
    assert on[1].lexical > 0
    assert all(h.lexical == 0 for h in off.values())  # no library word typed right
    # the dense lanes see the query as typed either way
    assert on[1].headline == pytest.approx(off[1].headline)
    assert index.search("pictres have streeks", 3, weights=replace(LEXICAL, spelling=False)) == []


def test_vocabulary_survives_save_and_load(encoder: Encoder, tmp_path: Path) -> None:
    _saved(encoder, tmp_path)
    assert (tmp_path / VOCABULARY).exists()
    reopened = _index(encoder, tmp_path)
    assert reopened.load()
    current = {d.id: d.version for d in DOCS}
    assert reopened.sync(current, lambda ids: pytest.fail(f"fetched {ids}")) == SyncReport()
    # the first query that needs the look-up structure waits for its build, once: a
    # misspelling is never searched as typed
    assert not reopened.speller.ready
    assert reopened.correct("pictres have streeks").text == "pictures have streaks"
    assert reopened.speller.ready
    # an article written later: its words count at once
    reopened.upsert([Document(4, 1, "Collimator exchange fails", "The collimator is stuck.")])
    assert reopened.correct("colimator stuck").text == "collimator stuck"
    assert reopened.search("pictres have streeks", 1, weights=LEXICAL)[0].id == 1


@pytest.mark.parametrize("damage", ["removed", "unreadable"])
def test_lost_vocabulary_is_read_again_by_sync_without_reembedding(
    encoder: Encoder, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    _saved(encoder, tmp_path)
    if damage == "removed":
        (tmp_path / VOCABULARY).unlink()
    else:
        (tmp_path / VOCABULARY).write_text('{"format": 1, "words": ')
    counting = CountingEncoder(encoder)
    reopened = HybridIndex(counting, tmp_path, keyword_fields=FIELDS, glossary_groups=GLOSSARY)
    with caplog.at_level(logging.WARNING, logger="embeddings"):
        assert reopened.load()  # the vectors and lookups are reused
    assert "spelling vocabulary" in caplog.text
    # until the sync has read the texts, a query is searched as typed
    assert not reopened.correct("pictres have streeks")
    fetched: list[int] = []

    def fetch(ids: Sequence[int]) -> list[Document]:
        fetched.extend(ids)
        return [BY_ID[i] for i in ids]

    report = reopened.sync({d.id: d.version for d in DOCS}, fetch)
    assert (report.added, report.updated, report.removed) == (0, 0, 0)
    assert sorted(fetched) == [1, 2, 3]
    assert counting.texts == 0
    assert reopened.correct("pictres have streeks").text == "pictures have streaks"
    reopened.close()
    again = _index(encoder, tmp_path)
    assert again.load()
    again.prepare_spelling()
    assert again.sync({d.id: d.version for d in DOCS}, lambda ids: pytest.fail("fetched")) == (
        SyncReport()
    )
    assert again.correct("tabel").text == "table"


def test_vocabulary_follows_writes_and_clear(encoder: Encoder) -> None:
    index = _index(encoder)
    index.upsert(DOCS[:2])
    assert index.correct("coil not recgonised").text == "coil not recgonised"
    index.upsert(DOCS[2:])  # a word a new article brings is a correction from then on
    assert index.correct("coil not recgonised").text == "coil not recognised"
    index.clear()
    assert not index.correct("pictres have streeks")
