from embeddings.lexical import LexicalIndex
from embeddings.synonyms import Glossary

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
