import logging
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np
import orjson
import pytest

from embeddings.encoder import Encoder, make_encoder
from embeddings.fusion import FusionWeights
from embeddings.hybrid import Document, HybridIndex
from embeddings.store import SyncReport

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
            "keywords": {n: list(v) for n, v in fresh.lookups.keyword_values(d.keywords).items()},
            "labels": {n: list(v) for n, v in d.keywords.items() if v},
            "codes": list(d.codes),
            "models": list(d.models),
        }
        for d in DOCS
    }
    fingerprint = {**fresh.store.fingerprint(), "format": 1}
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
    with caplog.at_level(logging.WARNING, logger="embeddings"):
        assert not reopened.load()
    assert len(reopened) == 0
    assert "body_max_tokens None -> 128" in caplog.text
    assert "rebuilding" in caplog.text


def test_load_with_nothing_saved_yet_builds_quietly(
    encoder: Encoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = HybridIndex(encoder, tmp_path, keyword_fields=FIELDS)
    with caplog.at_level(logging.WARNING, logger="embeddings"):
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
    with caplog.at_level(logging.WARNING, logger="embeddings"):
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
    with caplog.at_level(logging.WARNING, logger="embeddings"):
        reopened = HybridIndex(counting, tmp_path, keyword_fields=FIELDS, lexical_boosts=body)
        assert reopened.load()
    assert "indexed with other fields (now: body)" in caplog.text
    _sync_reindexes_texts_only(reopened, counting)
    reopened.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="embeddings"):
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
    with caplog.at_level(logging.WARNING, logger="embeddings"):
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


def test_searches_beside_two_writers_see_whole_writes_and_every_lane_ends_in_step(
    encoder: Encoder,
) -> None:
    """Four searchers run while two writers add, replace and remove documents. No search
    fails or sees a write half done (a hit lacking a lane's score, a filtered-out or
    duplicate hit), searches did overlap the writes, and in the end every lane holds
    exactly the last write of each document."""
    index = HybridIndex(encoder, None, keyword_fields=FIELDS)
    index.upsert(DOCS)
    query = "table does not move"
    vector = encoder.encode([query])
    errors: list[BaseException] = []
    overlapping = [0] * 4  # searches that ended while the writers were still writing
    all_started = threading.Barrier(6, timeout=60)  # 4 searchers, 2 writers
    writing_done = threading.Event()

    def check(hits: list) -> None:
        ids = [h.id for h in hits]
        assert len(ids) == len(set(ids)), ids
        assert 2 in ids, ids
        assert set(ids) <= {2, 10, 11}, ids  # the filter never lets 1 or 3 in
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        # each hit is in every lane: a write seen half done would lack one's score
        assert all(h.headline > 0 and h.body > 0 and h.lexical > 0 for h in hits), hits

    def searcher(slot: int) -> None:
        try:
            check(index.search(query, 3, query_vector=vector, filters={"modality": ["CT"]}))
            all_started.wait()
            while not writing_done.is_set():
                check(index.search(query, 3, query_vector=vector, filters={"modality": ["CT"]}))
                overlapping[slot] += not writing_done.is_set()
        except BaseException as exc:
            all_started.abort()
            errors.append(exc)

    last: dict[int, int | None] = {}

    def writer(doc_id: int, removes: bool) -> None:
        try:
            all_started.wait()
            for version in range(1, 9):
                text = f"The CT table is stuck ({version})."
                index.upsert([Document(doc_id, version, "Table stuck", text, {"modality": ["CT"]})])
                last[doc_id] = version
                if removes and version % 3 == 0:
                    index.remove([doc_id])
                    last[doc_id] = None
        except BaseException as exc:
            all_started.abort()
            errors.append(exc)

    searchers = [threading.Thread(target=searcher, args=(n,)) for n in range(4)]
    writers = [
        threading.Thread(target=writer, args=(10, False)),
        threading.Thread(target=writer, args=(11, True)),
    ]
    for t in searchers + writers:
        t.start()
    for t in writers:
        t.join(timeout=120)
    writing_done.set()
    for t in searchers:
        t.join(timeout=60)
    assert errors == []
    assert sum(overlapping) > 0, "no search ran while the writers wrote"
    expected = {1: 1, 2: 1, 3: 1, **{i: v for i, v in last.items() if v is not None}}
    assert expected == {1: 1, 2: 1, 3: 1, 10: 8, 11: 8}
    assert index.versions() == expected
    for lane in (index.headline, index.body):
        assert sorted(lane.ids().tolist()) == sorted(expected)
    assert index.lexical.ids() == set(expected)
    assert index.allowed_ids({"modality": ["CT"]}) == {2, 10, 11}
    final = index.search(query, 5, query_vector=vector, filters={"modality": ["CT"]})
    assert {h.id for h in final} == {2, 10, 11}
    check(final)


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


# saved by the code before the store left hybrid.py (commit f1b0e36) from SAVED_DOCS with
# the packaged model through torch (fp32: the same encoder name on every CPU): a code of two
# spellings, a model, documents sharing a filter value
SAVED = Path(__file__).parent / "saved_index_format_2"
SAVED_DOCS = [
    *DOCS,
    Document(
        4,
        3,
        "Gantry fault code",
        "The gantry shows RFC 452 at start-up.",
        {"modality": ["CT"], "manufacturer": ["Nordvale"]},
        codes=["RFC 452"],
        models=["Aurion 64"],
    ),
]


def _files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def torch_encoder(tmp_path_factory: pytest.TempPathFactory) -> Encoder:
    """The packaged model through torch, as the saved index was built."""
    return make_encoder("torch", cache_dir=tmp_path_factory.mktemp("unused"))


def test_index_saved_by_the_earlier_code_loads_unchanged(
    torch_encoder: Encoder, tmp_path: Path
) -> None:
    """An index saved before this code is reused as it is: nothing encoded or rewritten,
    every lookup (filters, both spellings of a code, models) as saved; its texts are read
    once for the spelling vocabulary, which that code did not save."""
    path = tmp_path / "index"
    shutil.copytree(SAVED, path)
    before = _files(path)
    counting = CountingEncoder(torch_encoder)
    index = HybridIndex(counting, path, keyword_fields=FIELDS)  # type: ignore[arg-type]
    assert index.load()
    assert index.loaded_from_disk
    current = {d.id: d.version for d in SAVED_DOCS}
    by_id = {d.id: d for d in SAVED_DOCS}
    fetched: list[int] = []
    assert index.sync(current, lambda ids: fetched.extend(ids) or [by_id[i] for i in ids]) == (
        SyncReport()
    )
    assert sorted(fetched) == sorted(current)
    assert counting.texts == 0
    assert index.versions() == current
    assert len(index.lexical) == 4
    assert index.known_values("manufacturer") == {"Nordvale", "Helix"}
    assert index.allowed_ids({"manufacturer": ["nordvale"]}) == {1, 2, 4}
    assert index.allowed_ids({"modality": ["CT"]}) == {2, 4}
    vector = torch_encoder.encode(["error rfc 452 on aurion 64"])
    hits = {h.id: h for h in index.search("error rfc 452 on aurion 64", 4, query_vector=vector)}
    assert (hits[1].codes, hits[4].codes) == (["RFC-452"], ["RFC 452"])
    assert (hits[1].models, hits[4].models) == ([], ["Aurion 64"])
    assert index.codes_in("is it rfc452?") == ["RFC 452", "RFC-452"]
    knee = index.search(
        "knee coil is not detected",
        1,
        query_vector=torch_encoder.encode(["knee coil is not detected"]),
    )
    assert knee[0].id == 1
    index.close()
    after = _files(path)
    assert {n: b for n, b in after.items() if not n.startswith("lexical/")} == {
        n: b for n, b in before.items() if not n.startswith("lexical/")
    } | {"spelling.json": after["spelling.json"]}


def _vectors(path: Path) -> np.ndarray:
    raw = faiss.read_index(str(path))
    return np.vstack([raw.reconstruct(int(i)) for i in np.load(path.with_suffix(".ids.npy"))])


def test_save_writes_the_files_the_earlier_code_wrote(
    torch_encoder: Encoder, tmp_path: Path
) -> None:
    """The same documents saved by this code give the very manifest and ids the earlier
    code wrote, and the same vectors (the BM25 lane's files are tantivy's own)."""
    index = HybridIndex(torch_encoder, tmp_path, keyword_fields=FIELDS)
    index.upsert(SAVED_DOCS)
    index.save()
    index.close()
    saved, now = _files(SAVED), _files(tmp_path)
    for name in ("manifest.json", "headline.ids.npy", "body.ids.npy"):
        assert now[name] == saved[name], name
    for name in ("headline.faiss", "body.faiss"):
        assert np.allclose(_vectors(tmp_path / name), _vectors(SAVED / name), atol=1e-5), name
