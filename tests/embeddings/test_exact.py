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
