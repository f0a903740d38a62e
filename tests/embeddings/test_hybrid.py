from pathlib import Path

from embeddings.encoder import Encoder
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
    index = HybridIndex(encoder, tmp_path, keyword_fields=FIELDS)
    index.upsert(DOCS)
    index.save()
    index.close()
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
    index = HybridIndex(encoder, tmp_path, keyword_fields=FIELDS)
    index.upsert(DOCS)
    index.save()
    index.close()
    (tmp_path / "manifest.json").write_text("{not json")
    reopened = HybridIndex(encoder, tmp_path, keyword_fields=FIELDS)
    assert not reopened.load()
    assert len(reopened) == 0
    assert len(reopened.lexical) == 0
