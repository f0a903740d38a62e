import pytest

from embeddings.exact import ExactIndex, normalise


@pytest.mark.parametrize("spelling", ["HV-417", "hv417", "HV 417", "error hv-417 again"])
def test_match_error_code_spellings_find_the_document(spelling: str) -> None:
    index = ExactIndex()
    index.put(1, ["HV-417"])
    index.put(2, ["HV-418"])
    assert index.match(spelling) == {1: ["HV-417"]}


def test_match_is_never_fuzzy() -> None:
    index = ExactIndex()
    index.put(1, ["HV-417"])
    assert index.match("HV-471") == {}
    assert index.match("HV-4170") == {}


def test_normalise_ignores_case_spaces_and_hyphens() -> None:
    assert normalise("Radius DR-40") == normalise("radius dr40") == "radiusdr40"


def test_remove_forgets_only_the_documents_named() -> None:
    index = ExactIndex()
    index.put(1, ["HV-417", "RFC-452"])
    index.put(2, ["HV 417"])
    index.remove([1, 99])
    assert index.match("hv417 rfc452") == {2: ["HV 417"]}
    assert not index.has("RFC-452")
    assert len(index) == 1


def test_from_postings_restores_each_documents_spelling() -> None:
    index = ExactIndex()
    index.put(1, ["HV-417", "RFC-452"])
    index.put(2, ["hv 417"])
    index.put(3, ["HV-417"])
    restored = ExactIndex.from_postings(index.postings())
    assert restored.match("error HV417") == {1: ["HV-417"], 2: ["hv 417"], 3: ["HV-417"]}
    assert restored.match("rfc 452") == {1: ["RFC-452"]}
    assert len(restored) == 3


def test_loaded_index_answers_before_and_after_its_first_write() -> None:
    index = ExactIndex()
    index.put(1, ["HV-417", "RFC-452"])
    index.put(2, ["hv 417"])
    loaded = ExactIndex.from_postings(index.postings())
    assert loaded.has("HV417")
    assert not loaded.has("XR-1")
    assert loaded.spellings() == {"HV-417", "RFC-452", "hv 417"}
    assert loaded.postings() == index.postings()  # saved again unchanged, as loaded
    loaded.put(1, ["XR-100"])
    assert loaded.match("hv417 rfc452 xr100") == {2: ["hv 417"], 1: ["XR-100"]}
    assert dict(loaded.held("hv417")) == {2: "hv 417"}


def test_from_postings_with_uneven_columns_is_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        ExactIndex.from_postings({"keys": ["a1b"], "spellings": [], "docs": [1], "more": []})
