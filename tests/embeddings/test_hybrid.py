import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import orjson
import pytest

from embeddings.encoder import Encoder
from embeddings.fusion import FusionWeights
from embeddings.hybrid import Document, HybridIndex

FIELDS = {"modality": False, "manufacturer": True}

DOCS = [
    Document(
        1,
        1,
        "Knee coil not recognised",
        "The knee coil is not detected by the MR table socket.",
        {"modality": ["MR"], "manufacturer": ["Nordvale"]},
        codes=["RFC-452"],
    ),
    Document(
        2,
        1,
        "Table will not move",
        "The CT patient table does not move up or down.",
        {"modality": ["CT"], "manufacturer": []},
    ),
    Document(
        3,
        1,
        "Probe not detected",
        "The ultrasound transducer is not recognised.",
        {"modality": ["US"], "manufacturer": ["Helix"]},
    ),
]


def _save_docs(
    encoder: Encoder, path: Path, lexical_boosts: dict[str, float] | None = None
) -> None:
    """DOCS indexed, saved to `path` and closed, as a previous run leaves them."""
    index = HybridIndex(encoder, path, keyword_fields=FIELDS, lexical_boosts=lexical_boosts)
    index.upsert(DOCS)
    index.save()
    index.close()


def test_search_ranks_semantic_match_first(encoder: Encoder) -> None:
    index = HybridIndex(encoder, None, keyword_fields=FIELDS)
    index.upsert(DOCS)
    hits = index.search("the coil for knees isn't showing up", 3)
    assert hits[0].id == 1


def test_search_with_filter_never_returns_other_values(encoder: Encoder) -> None:
    index = HybridIndex(encoder, None, keyword_fields=FIELDS)
    index.upsert(DOCS)
    hits = index.search("coil not recognised", 3, filters={"modality": ["CT"]})
    assert [h.id for h in hits] == [2]


def test_search_wildcard_field_matches_documents_without_value(
    encoder: Encoder,
) -> None:
    index = HybridIndex(encoder, None, keyword_fields=FIELDS)
    index.upsert(DOCS)
    hits = index.search("table", 3, filters={"manufacturer": ["Helix"]})
    assert {h.id for h in hits} == {2, 3}


def test_sync_after_reload_reembeds_only_changes(encoder: Encoder, tmp_path: Path) -> None:
    _save_docs(encoder, tmp_path)
    reopened = HybridIndex(encoder, tmp_path, keyword_fields=FIELDS)
    assert reopened.load()
    by_id = {d.id: d for d in DOCS}
    fetched: list[int] = []

    def fetch(ids):
        fetched.extend(ids)
        return [by_id[i] for i in ids]

    report = reopened.sync({1: 1, 2: 2}, fetch)
    assert fetched == [2]
    assert (report.added, report.updated, report.removed) == (0, 1, 1)
    assert reopened.versions() == {1: 1, 2: 1}


def test_load_with_corrupt_manifest_starts_empty(encoder: Encoder, tmp_path: Path) -> None:
    _save_docs(encoder, tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    reopened = HybridIndex(encoder, tmp_path, keyword_fields=FIELDS)
    assert not reopened.load()
    assert len(reopened) == 0
    assert len(reopened.lexical) == 0


def test_load_restores_filters_and_exact_codes(encoder: Encoder, tmp_path: Path) -> None:
    _save_docs(encoder, tmp_path)
    reopened = HybridIndex(encoder, tmp_path, keyword_fields=FIELDS)
    assert reopened.load()
    hits = reopened.search("error rfc 452 on the table", 3)
    assert hits[0].id == 1
    assert hits[0].codes == ["RFC-452"]
    filtered = reopened.search("coil not recognised", 3, filters={"modality": ["CT"]})
    assert [h.id for h in filtered] == [2]
    wildcard = reopened.search("table", 3, filters={"manufacturer": ["Helix"]})
    assert {h.id for h in wildcard} == {2, 3}


def test_load_with_manifest_missing_a_field_starts_empty(encoder: Encoder, tmp_path: Path) -> None:
    _save_docs(encoder, tmp_path)
    manifest = orjson.loads((tmp_path / "manifest.json").read_bytes())
    del manifest["codes"]  # e.g. a hand-edited or half-copied file
    (tmp_path / "manifest.json").write_bytes(orjson.dumps(manifest))
    reopened = HybridIndex(encoder, tmp_path, keyword_fields=FIELDS)
    assert not reopened.load()  # rebuilt from the database, not a crash at start-up
    assert len(reopened) == 0


def test_load_with_format_1_manifest_rewrites_it_without_reembedding(
    encoder: Encoder, tmp_path: Path
) -> None:
    """An index saved by the previous release (a record per document) is reused, not
    re-embedded (~40 min at 100k), and its manifest is rewritten once."""
    _save_docs(encoder, tmp_path)
    fresh = HybridIndex(encoder, None, keyword_fields=FIELDS)
    records = {
        str(d.id): {
            "version": d.version,
            "keywords": {n: list(v) for n, v in fresh._keyword_values(d).items()},
            "labels": {n: list(v) for n, v in d.keywords.items() if v},
            "codes": list(d.codes),
            "models": list(d.models),
        }
        for d in DOCS
    }
    fingerprint = {**fresh.fingerprint(), "format": 1}
    older = {"fingerprint": fingerprint, "docs": records}
    (tmp_path / "manifest.json").write_bytes(orjson.dumps(older))
    counting = CountingEncoder(encoder)
    reopened = HybridIndex(counting, tmp_path, keyword_fields=FIELDS)
    assert reopened.load()
    assert counting.texts == 0
    assert reopened.versions() == {1: 1, 2: 1, 3: 1}
    assert reopened.known_values("manufacturer") == {"Nordvale", "Helix"}
    assert reopened.search("error rfc 452 on the table", 3)[0].codes == ["RFC-452"]
    wildcard = reopened.search("table", 3, filters={"manufacturer": ["Helix"]})
    assert {h.id for h in wildcard} == {2, 3}
    saved = orjson.loads((tmp_path / "manifest.json").read_bytes())
    assert saved["fingerprint"]["format"] == 2
    assert sorted(saved["ids"]) == [1, 2, 3]
    reopened.close()
    again = HybridIndex(encoder, tmp_path, keyword_fields=FIELDS)
    assert again.load()
    assert again.known_values("manufacturer") == {"Nordvale", "Helix"}


# document 3 moved to another manufacturer (version 2)
MOVED = Document(
    3,
    2,
    "Probe not detected",
    "The transducer is not recognised.",
    {"modality": ["US"], "manufacturer": ["Orbis"]},
)


def _remove_1_and_move_3(index: HybridIndex) -> None:
    index.remove([1])
    index.upsert([MOVED])


def _assert_no_trace_of_the_old_values(index: HybridIndex) -> None:
    assert index.versions() == {2: 1, 3: 2}
    assert index.known_values("manufacturer") == {"Orbis"}
    assert not index.has_value("manufacturer", "Helix")
    assert index.allowed_ids({"manufacturer": ["Helix"]}) == {2}
    assert index.allowed_ids({"modality": ["MR"]}) == set()
    assert all(h.codes == [] for h in index.search("error rfc 452", 3))


def test_remove_and_replace_leave_no_trace_in_filters_or_codes(
    encoder: Encoder, tmp_path: Path
) -> None:
    index = HybridIndex(encoder, tmp_path, keyword_fields=FIELDS)
    index.upsert(DOCS)
    _remove_1_and_move_3(index)
    _assert_no_trace_of_the_old_values(index)
    _assert_no_trace_of_the_old_values(_reopened(encoder, tmp_path, index))


def test_loaded_index_first_write_keeps_filters_and_codes_right(
    encoder: Encoder, tmp_path: Path
) -> None:
    _save_docs(encoder, tmp_path)
    index = HybridIndex(encoder, tmp_path, keyword_fields=FIELDS)
    assert index.load()
    assert index.allowed_ids({"manufacturer": ["Helix"]}) == {2, 3}
    _remove_1_and_move_3(index)
    _assert_no_trace_of_the_old_values(index)


def _reopened(encoder: Encoder, path: Path, index: HybridIndex) -> HybridIndex:
    index.save()
    index.close()
    again = HybridIndex(encoder, path, keyword_fields=FIELDS)
    assert again.load()
    return again


def test_load_with_other_settings_names_them_and_starts_empty(
    encoder: Encoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _save_docs(encoder, tmp_path)
    reopened = HybridIndex(encoder, tmp_path, keyword_fields=FIELDS, body_max_tokens=128)
    with caplog.at_level(logging.WARNING, logger="embeddings.hybrid"):
        assert not reopened.load()
    assert len(reopened) == 0
    assert "body_max_tokens None -> 128" in caplog.text
    assert "rebuilding" in caplog.text


def test_load_with_nothing_saved_yet_builds_quietly(
    encoder: Encoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = HybridIndex(encoder, tmp_path, keyword_fields=FIELDS)
    with caplog.at_level(logging.WARNING, logger="embeddings.hybrid"):
        assert not index.load()
    assert caplog.text == ""


class CountingEncoder:
    """The real encoder, counting the texts it is asked to encode."""

    def __init__(self, inner: Encoder) -> None:
        self.inner, self.name, self.dim, self.texts = inner, inner.name, inner.dim, 0

    def encode(self, texts: Sequence[str], *, max_tokens: int | None = None) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.encode(texts, max_tokens=max_tokens)


def _sync_reindexes_texts_only(index: HybridIndex, counting: CountingEncoder) -> None:
    """A sync against the saved DOCS fills the BM25 lane again and encodes nothing."""
    by_id = {d.id: d for d in DOCS}
    report = index.sync({1: 1, 2: 1, 3: 1}, lambda ids: [by_id[i] for i in ids])
    assert (report.added, report.updated, report.removed) == (0, 0, 0)
    assert counting.texts == 0
    assert len(index.lexical) == 3
    assert index.lexical.search("knee coil socket", 3)[0][0] == 1


def test_sync_after_bm25_lane_lost_reindexes_texts_without_reembedding(
    encoder: Encoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A rebuild stopped after it emptied the BM25 lane (or a crash between the lanes'
    writes) must not cost a re-embedding of every document at the next start."""
    _save_docs(encoder, tmp_path)
    emptied = HybridIndex(encoder, tmp_path, keyword_fields=FIELDS)
    emptied.lexical.clear()
    emptied.close()
    counting = CountingEncoder(encoder)
    reopened = HybridIndex(counting, tmp_path, keyword_fields=FIELDS)
    with caplog.at_level(logging.WARNING, logger="embeddings.hybrid"):
        assert reopened.load()
    assert "holds 0 documents, the manifest 3" in caplog.text
    _sync_reindexes_texts_only(reopened, counting)
    filtered = reopened.search("table does not move", 3, filters={"modality": ["CT"]})
    assert [h.id for h in filtered] == [2]


def test_load_with_other_bm25_fields_reindexes_texts_without_reembedding(
    encoder: Encoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Searching other article fields by keyword needs their texts indexed again, never
    the ~40 minutes of re-embedding at 100k articles, and only once."""
    body = {"body": 1.0}
    _save_docs(encoder, tmp_path, {"headline": 2.0, "body": 1.0})
    counting = CountingEncoder(encoder)
    with caplog.at_level(logging.WARNING, logger="embeddings.hybrid"):
        reopened = HybridIndex(counting, tmp_path, keyword_fields=FIELDS, lexical_boosts=body)
        assert reopened.load()
    assert "indexed with other fields (now: body)" in caplog.text
    _sync_reindexes_texts_only(reopened, counting)
    reopened.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="embeddings.hybrid"):
        again = HybridIndex(counting, tmp_path, keyword_fields=FIELDS, lexical_boosts=body)
        assert again.load()
    assert caplog.text == ""
    assert len(again.lexical) == 3
    saved = orjson.loads((tmp_path / "manifest.json").read_bytes())
    assert saved["fingerprint"]["lexical_boosts"] == {"body": 1.0}


def test_load_with_other_bm25_weights_reuses_every_lane(
    encoder: Encoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"body": 1.0}
    _save_docs(encoder, tmp_path, body)
    with caplog.at_level(logging.WARNING, logger="embeddings.hybrid"):
        heavier = {"body": 3.0}
        reopened = HybridIndex(encoder, tmp_path, keyword_fields=FIELDS, lexical_boosts=heavier)
        assert reopened.load()
    assert caplog.text == ""
    assert len(reopened.lexical) == 3
    # the weight applies at query time: BM25 scores scale with it
    unweighted = HybridIndex(encoder, None, keyword_fields=FIELDS, lexical_boosts=body)
    unweighted.upsert(DOCS)
    assert reopened.lexical.search("knee coil", 1)[0][1] == pytest.approx(
        3 * unweighted.lexical.search("knee coil", 1)[0][1], rel=1e-5
    )


def test_create_index_with_unknown_bm25_field_names_the_choices(encoder: Encoder) -> None:
    with pytest.raises(ValueError, match="choose among headline, body"):
        HybridIndex(encoder, None, keyword_fields=FIELDS, lexical_boosts={"title": 1.0})


@pytest.mark.parametrize(
    ("bm25_fields", "in_headline", "found"),
    [
        ({"headline": 2.0, "body": 1.0}, False, False),
        ({"headline": 2.0, "body": 1.0}, True, True),
        ({"headline": 1.0}, False, True),  # no body field: the equivalents go where BM25 looks
    ],
)
def test_search_looks_for_glossary_equivalents_in_the_body_unless_told(
    encoder: Encoder, bm25_fields: dict[str, float], in_headline: bool, found: bool
) -> None:
    groups = [["chiller", "refrigeration plant"]]
    index = HybridIndex(
        encoder, None, keyword_fields=FIELDS, lexical_boosts=bm25_fields, glossary_groups=groups
    )
    index.upsert([Document(1, 1, "Chiller alarm", "Flow is low.", {"modality": ["CT"]})])
    weights = FusionWeights(synonyms_in_headline=in_headline)
    (hit,) = index.search("refrigeration plant", 1, weights=weights)
    assert (hit.lexical > 0) is found


def test_search_with_pending_query_vector_ranks_as_with_the_vector(encoder: Encoder) -> None:
    """A vector still being encoded (a callable) gives the same ranking, and the lexical
    lane has run before it is asked for."""
    index = HybridIndex(encoder, None, keyword_fields=FIELDS)
    index.upsert(DOCS)
    query = "the coil for knees isn't showing up"
    vector = encoder.encode([index.dense_text(query)])
    asked: list[bool] = []

    def pending() -> np.ndarray:
        asked.append(True)
        return vector

    direct = index.search(query, 3, query_vector=vector)
    waited = index.search(query, 3, query_vector=pending)
    assert asked == [True]
    assert [(c.id, round(c.score, 5)) for c in waited] == [
        (c.id, round(c.score, 5)) for c in direct
    ]


def test_search_while_documents_are_written_never_fails(encoder: Encoder) -> None:
    """Searches run side by side; writes (add, replace, remove) interleave with them."""
    index = HybridIndex(encoder, None, keyword_fields=FIELDS)
    index.upsert(DOCS)
    vector = encoder.encode(["table does not move"])
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher() -> None:
        try:
            while not stop.is_set():
                hits = index.search(
                    "table does not move", 3, query_vector=vector, filters={"modality": ["CT"]}
                )
                assert all(h.id in {2, 10, 11} for h in hits)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(4)]
    for t in threads:
        t.start()
    for n in range(10):
        extra = Document(
            10 + n % 2, n + 1, "Table stuck", "The CT table is stuck.", {"modality": ["CT"]}
        )
        index.upsert([extra])
        if n % 3 == 2:
            index.remove([11])
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert errors == []


def test_search_with_document_only_in_bm25_lane_scores_it_by_keywords_alone(
    encoder: Encoder,
) -> None:
    """A crash between the lanes' writes can leave the BM25 lane holding a document the
    vectors do not (the next sync repairs it): searches meanwhile must not fail, and
    that document has no dense score while the others keep theirs."""
    from embeddings.lexical import LexicalDoc

    index = HybridIndex(encoder, None, keyword_fields=FIELDS)
    index.upsert(DOCS)
    stray = "The gantry tilt motor grinds when the table moves."
    index.lexical.upsert([LexicalDoc(9, {"headline": stray, "body": stray})])
    hits = {h.id: h for h in index.search("table grinds when it moves", 5)}
    assert set(hits) >= {2, 9}
    assert hits[9].lexical > 0
    assert hits[9].headline == hits[9].body == 0.0
    assert min(hits[2].headline, hits[2].body) > 0
