import pytest
from pydantic import ValidationError

from app.config import Settings
from embeddings.hybrid import DEFAULT_BM25_FIELDS


def test_settings_bm25_fields_default_is_the_index_default() -> None:
    assert Settings().bm25_fields == DEFAULT_BM25_FIELDS


def test_settings_bm25_fields_read_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BM25_FIELDS", '{"body": 1.5}')
    assert Settings().bm25_fields == {"body": 1.5}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"title": 1}', "unknown fields ['title']: choose among headline, body"),
        ('{"body": 0}', "greater than 0"),
        ("{}", "at least 1 item"),
    ],
)
def test_settings_bm25_fields_refused_with_what_to_fix(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("BM25_FIELDS", value)
    with pytest.raises(ValidationError, match="bm25_fields") as caught:
        Settings()
    assert message in str(caught.value)
