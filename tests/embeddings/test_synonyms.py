from pathlib import Path

import pytest

from embeddings.lexical import LexicalIndex
from embeddings.synonyms import Glossary, GlossaryError, read_groups

GROUPS = [
    ["chiller", "cooling unit", "refrigeration plant"],
    ["table", "couch", "bed"],
    ["won't turn on", "no power", "dead"],
]


def _glossary() -> Glossary:
    return Glossary(GROUPS, LexicalIndex(None, text_fields={"t": 1.0}).terms)


def test_expand_adds_equivalents_not_already_present() -> None:
    g = _glossary()
    assert g.expand("refrigeration plant feeding the ct has tripped") == ["chiller", "cooling unit"]
    assert g.expand("the beds are stuck") == ["table", "couch"]


def test_expand_matches_phrases_not_single_words_of_them() -> None:
    g = _glossary()
    assert g.expand("the scanner won't turn on") == ["no power", "dead"]
    assert g.expand("turn the knob") == []


def test_expand_per_group_caps_each_group() -> None:
    g = _glossary()
    assert g.expand("the couch and the chiller", per_group=1) == ["table", "cooling unit"]


def test_lexical_search_finds_document_through_a_synonym() -> None:
    index = LexicalIndex(None, text_fields={"body": 1.0})
    from embeddings.lexical import LexicalDoc

    index.upsert([LexicalDoc(1, {"body": "chiller flow alarm"}), LexicalDoc(2, {"body": "tube"})])
    g = _glossary()
    query = "refrigeration plant tripped"
    assert index.search(query, 5) == []
    hits = index.search(query, 5, extra=g.expand(query), extra_boost=0.3)
    assert [h[0] for h in hits] == [1]


def test_read_groups_returns_the_files_groups(tmp_path: Path) -> None:
    path = tmp_path / "glossary.yaml"
    path.write_text("- [tube arcing, spit]\n- [gantry, ring]\n", encoding="utf-8")
    assert read_groups(path) == [["tube arcing", "spit"], ["gantry", "ring"]]


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("- [a, b]\n- just a term\n", "entry 2 must be a list of strings"),
        ("groups: [a, b]\n", "expected a list of groups"),
        ("- [a, b\n", "not valid YAML"),
    ],
)
def test_read_groups_malformed_file_names_the_fault(tmp_path: Path, text: str, fault: str) -> None:
    path = tmp_path / "glossary.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GlossaryError, match=fault) as caught:
        read_groups(path)
    assert str(path) in str(caught.value)


def test_lexical_search_looks_for_equivalents_only_in_the_given_fields() -> None:
    from embeddings.lexical import LexicalDoc

    index = LexicalIndex(None, text_fields={"headline": 2.0, "body": 1.0})
    index.upsert(
        [
            LexicalDoc(1, {"headline": "chiller alarm", "body": "flow low"}),
            LexicalDoc(2, {"headline": "tube", "body": "chiller tripped"}),
        ]
    )
    query = "refrigeration plant tripped"
    extra = _glossary().expand(query)
    in_body = index.search(query, 5, extra=extra, extra_boost=0.3, extra_fields=("body",))
    everywhere = index.search(query, 5, extra=extra, extra_boost=0.3)
    assert [h[0] for h in in_body] == [2]
    assert sorted(h[0] for h in everywhere) == [1, 2]
    # the query's own words still count in every field
    assert [h[0] for h in index.search("tube", 5, extra_fields=("body",))] == [2]
