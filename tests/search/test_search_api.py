"""Search over HTTP on the seed library. Tests that only search share one app per module
(`seeded_read_only`); a test that writes (an edit, an archive, a restart) starts its own
(`seeded`, `_own_client`)."""

import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.search.named import modalities_in
from tests.conftest import KNOWLEDGE, AppFactory, article_payload

# (query as a dispatcher types it, the article that fixes it)
KNOWN = [
    ("CT makes a popping sound and the images have streaks", "ct-tube-arcing-popping"),
    ("knee coil not recognised", "mr-knee-coil-not-recognised"),
    ("error HV-417", "ct-tube-arcing-popping"),
    ("ultrasound probe not detected when plugged in", "us-probe-not-detected"),
    ("worklist is empty on the scanner", None),
]


def _own_client(
    make_client: AppFactory, seeded_template: Path, tmp_path: Path, **settings: object
) -> TestClient:
    """A client on its own copy of the seeded library, with these settings."""
    data_dir = tmp_path / "own"
    shutil.copytree(seeded_template, data_dir)
    return make_client(f"sqlite:///{data_dir / 'helpdesk.db'}", data_dir, **settings)


def _search(client: TestClient, **body: object) -> dict:
    response = client.post("/search", json=body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(("query", "slug"), [k for k in KNOWN if k[1]])
def test_search_known_query_ranks_its_article_in_top_3(
    seeded_read_only: TestClient, query: str, slug: str
) -> None:
    results = _search(seeded_read_only, query=query, limit=3)["results"]
    assert slug in [r["slug"] for r in results]


@pytest.mark.parametrize("spelling", ["HV-417", "hv417", "HV 417", "Error hv-417 on console"])
def test_search_error_code_any_spelling_ranks_its_article_first(
    seeded_read_only: TestClient, spelling: str
) -> None:
    top = _search(seeded_read_only, query=spelling)["results"][0]
    assert top["slug"] == "ct-tube-arcing-popping"
    assert top["why"]["error_codes"] == ["HV-417"]


def test_search_result_carries_steps_with_tier1_marking_and_why(
    seeded_read_only: TestClient,
) -> None:
    top = _search(seeded_read_only, query="HV-417")["results"][0]
    assert top["steps"], "steps are returned with the hit"
    assert any(not s["tier1_allowed"] for s in top["steps"])
    assert all(s["restriction"] for s in top["steps"] if not s["tier1_allowed"])
    why = top["why"]
    assert set(why) >= {"semantic", "keyword_terms", "error_codes", "filters", "summary"}
    assert "HV-417" in why["summary"]


def test_search_filters_are_hard(seeded_read_only: TestClient) -> None:
    results = _search(
        seeded_read_only, query="HV-417 popping streaks", filters={"modality": "MR"}, limit=10
    )["results"]
    assert results
    assert {r["modality"] for r in results} == {"MR"}
    assert "ct-tube-arcing-popping" not in [r["slug"] for r in results]


def test_search_manufacturer_filter_keeps_generic_articles(seeded_read_only: TestClient) -> None:
    results = _search(
        seeded_read_only,
        query="table will not move",
        limit=20,
        filters={"modality": "CT", "manufacturer": "helix imaging"},
    )["results"]
    assert results
    assert {r["manufacturer"] for r in results} <= {"Helix Imaging", None}


def test_shared_seeded_app_refuses_a_write(seeded_read_only: TestClient) -> None:
    """The searches above share their app: a test that wrote through it would change
    what the others find, so the write is refused before it is sent."""
    with pytest.raises(pytest.fail.Exception, match="a test that writes takes `seeded`"):
        seeded_read_only.post("/articles", json=article_payload())


def test_search_only_returns_published_articles(seeded: TestClient) -> None:
    top = _search(seeded, query="HV-417")["results"][0]
    seeded.post(f"/articles/{top['id']}/archive")
    after = _search(seeded, query="HV-417", limit=10)["results"]
    assert top["slug"] not in [r["slug"] for r in after]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "x" * 20_001}, "query"),
        ({}, "query"),
        ({"query": "coil", "limit": 0}, "limit"),
        ({"query": "coil", "limit": 51}, "limit"),
        ({"query": "coil", "filters": {"modality": "PET"}}, "filters.modality"),
        ({"query": "coil", "filters": {"manufacturer": "Acme"}}, "filters.manufacturer"),
        ({"query": "coil", "filters": {"error_code": "ZZ-1"}}, "filters.error_code"),
        ({"query": "coil", "filters": {"colour": "red"}}, "filters.colour"),
        ({"query": 42}, "query"),
    ],
)
def test_search_bad_input_gets_422_naming_the_field(
    seeded_read_only: TestClient, body: dict, field: str
) -> None:
    response = seeded_read_only.post("/search", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]]


def test_search_unknown_manufacturer_lists_valid_values(seeded_read_only: TestClient) -> None:
    response = seeded_read_only.post(
        "/search", json={"query": "x", "filters": {"manufacturer": "Acme"}}
    )
    assert "Nordvale Medical" in response.json()["valid_values"]


def test_restart_reuses_persisted_index_with_same_results(
    make_client: AppFactory, seeded: TestClient, tmp_path: Path
) -> None:
    queries = [q for q, _ in KNOWN]
    before = [_search(seeded, query=q, limit=5)["results"] for q in queries]
    data_dir = tmp_path / "seeded"
    seeded.__exit__(None, None, None)
    again = make_client(f"sqlite:///{data_dir / 'helpdesk.db'}", data_dir)
    status = again.get("/search/index").json()
    assert status["loaded_from_disk"] is True
    assert status["last_sync"] == {"added": 0, "updated": 0, "removed": 0, "rebuilt": False}
    after = [_search(again, query=q, limit=5)["results"] for q in queries]
    assert [[(r["slug"], r["score"]) for r in rs] for rs in after] == [
        [(r["slug"], r["score"]) for r in rs] for rs in before
    ]


def test_write_after_restart_moves_article_between_filters_and_codes(
    make_client: AppFactory, seeded: TestClient, tmp_path: Path
) -> None:
    """The lookups a restart loads read-only take writes: an edit right after it leaves
    no trace of the old manufacturer or error code."""
    data_dir = tmp_path / "seeded"
    seeded.__exit__(None, None, None)
    again = make_client(f"sqlite:///{data_dir / 'helpdesk.db'}", data_dir)
    assert again.get("/search/index").json()["loaded_from_disk"] is True
    article = again.get("/articles/ct-tube-arcing-popping").json()
    edit = {
        "manufacturer": "Orbis Imaging",
        "error_codes": ["ZX-901"],
        "version": article["version"],
    }
    assert again.patch(f"/articles/{article['id']}", json=edit).status_code == 200
    query = "CT makes a popping sound and the images have streaks"
    old = _search(again, query=query, filters={"manufacturer": article["manufacturer"]})
    assert article["slug"] not in [r["slug"] for r in old["results"]]
    new = _search(again, query=query, filters={"manufacturer": "Orbis Imaging"})
    assert new["results"][0]["slug"] == article["slug"]
    assert _search(again, query="error ZX-901")["results"][0]["slug"] == article["slug"]
    hv = _search(again, query="error HV-417")["results"]
    assert all(r["slug"] != article["slug"] or not r["why"]["error_codes"] for r in hv)


def test_deleted_index_files_are_rebuilt_with_same_results(
    make_client: AppFactory, seeded: TestClient, tmp_path: Path
) -> None:
    queries = [q for q, _ in KNOWN]
    before = [[r["slug"] for r in _search(seeded, query=q)["results"]] for q in queries]
    data_dir = tmp_path / "seeded"
    seeded.__exit__(None, None, None)
    shutil.rmtree(data_dir / "index")
    again = make_client(f"sqlite:///{data_dir / 'helpdesk.db'}", data_dir)
    status = again.get("/search/index").json()
    assert status["loaded_from_disk"] is False
    assert status["last_sync"]["rebuilt"] is True
    assert status["documents"] == len(list(KNOWLEDGE.rglob("*.md")))
    after = [[r["slug"] for r in _search(again, query=q)["results"]] for q in queries]
    assert after == before


def test_write_not_yet_saved_is_repaired_at_start(
    make_client: AppFactory, database_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "d"
    first = make_client(database_url, data_dir, index_save_delay=3600)
    first.post("/articles", json=article_payload(title="Saved before the crash"))
    first.app.state.index.save()  # type: ignore[attr-defined]
    created = first.post("/articles", json=article_payload()).json()
    # simulate a crash: the vector files never got the write
    first.app.state.index._timer.cancel()  # type: ignore[attr-defined]
    first.app.state.index._hybrid.lexical.close()  # type: ignore[attr-defined]
    again = make_client(database_url, data_dir)
    results = _search(again, query="grinding noise when the gantry spins")["results"]
    assert results[0]["slug"] == created["slug"]
    assert again.get("/search/index").json()["documents"] == 2


def test_search_response_is_exactly_the_response_model_json(seeded_read_only: TestClient) -> None:
    """The route sends prepared JSON without a validation pass: it must be what the
    declared model would have produced."""
    from app.search.schemas import SearchResponse

    for body in (
        {"query": "HV-417 popping streaks", "limit": 10},
        {"query": "table will not move", "filters": {"modality": "CT"}},
        {"query": "the couch won't move"},
    ):
        got = _search(seeded_read_only, **body)
        assert got["results"]
        assert SearchResponse.model_validate(got).model_dump(mode="json") == got


def test_edited_article_is_searched_with_its_new_steps(seeded: TestClient) -> None:
    index = seeded.app.state.index  # type: ignore[attr-defined]
    top = _search(seeded, query="HV-417")["results"][0]
    again = _search(seeded, query="HV-417")["results"][0]
    assert again == top
    assert index.cards.hits > 0, "the second search is served from the hit cards"
    steps = [{"text": "Switch the scanner off and call tier 2.", "tier1_allowed": True}]
    edited = seeded.patch(
        f"/articles/{top['id']}",
        json={"steps": steps, "cause": "A new cause."},
        headers={"If-Match": f'"{top["version"]}"'},
    )
    assert edited.status_code == 200, edited.text
    after = _search(seeded, query="HV-417")["results"][0]
    assert after["id"] == top["id"]
    assert after["version"] == top["version"] + 1
    assert after["cause"] == "A new cause."
    assert [s["text"] for s in after["steps"]] == [steps[0]["text"]]


def test_archived_then_republished_article_comes_back_at_its_new_version(
    seeded: TestClient,
) -> None:
    top = _search(seeded, query="HV-417")["results"][0]
    assert seeded.post(f"/articles/{top['id']}/archive").status_code == 200
    assert top["id"] not in [r["id"] for r in _search(seeded, query="HV-417", limit=10)["results"]]
    assert seeded.post(f"/articles/{top['id']}/publish").status_code == 200
    back = _search(seeded, query="HV-417")["results"][0]
    assert back["id"] == top["id"]
    assert back["version"] == top["version"] + 2


def test_hit_cards_can_be_switched_off(
    make_client: AppFactory, seeded_template: Path, tmp_path: Path
) -> None:
    client = _own_client(make_client, seeded_template, tmp_path, hit_cache_size=0)
    first = _search(client, query="HV-417")["results"]
    assert _search(client, query="HV-417")["results"] == first
    assert len(client.app.state.index.cards) == 0  # type: ignore[attr-defined]


def test_search_matches_an_article_by_its_other_phrasings(seeded: TestClient) -> None:
    """A caller's words that share nothing with the title or issue still find the article
    once an engineer adds them under 'also reported as', at once."""
    query = "the shiny rotating donut squeals like a kettle every morning"
    before = [r["slug"] for r in _search(seeded, query=query, limit=3)["results"]]
    top = _search(seeded, query="HV-417")["results"][0]
    # not its answer before (where it ranks below first varies with the CPU's int8 scheme)
    assert before[0] != top["slug"]
    edited = seeded.patch(
        f"/articles/{top['id']}",
        json={"reported_as": ["shiny rotating donut squeals like a kettle every morning"]},
        headers={"If-Match": f'"{top["version"]}"'},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["reported_as"] == [
        "shiny rotating donut squeals like a kettle every morning"
    ]
    after = _search(seeded, query=query, limit=3)["results"]
    assert after[0]["slug"] == top["slug"]


def test_search_same_words_again_reuses_the_query_vector(
    make_client: AppFactory, seeded_template: Path, tmp_path: Path
) -> None:
    """Typed, then Enter, then a filter toggled: one encode, the same ranking as fresh."""
    client = _own_client(make_client, seeded_template, tmp_path)
    index = client.app.state.index  # type: ignore[attr-defined]
    query = "table will not move up or down"
    first = _search(client, query=query)["results"]
    encoded = index.batcher.items
    assert _search(client, query=query)["results"] == first
    assert _search(client, query=query, filters={"modality": "CT"})["results"]
    assert index.batcher.items == encoded, "the same text was encoded again"
    _search(client, query=query + " at all")
    assert index.batcher.items == encoded + 1


def test_search_without_query_cache_encodes_every_search(
    make_client: AppFactory, seeded_template: Path, tmp_path: Path
) -> None:
    client = _own_client(make_client, seeded_template, tmp_path, query_cache_size=0)
    index = client.app.state.index  # type: ignore[attr-defined]
    first = _search(client, query="HV-417")["results"]
    encoded = index.batcher.items
    assert _search(client, query="HV-417")["results"] == first
    assert index.batcher.items == encoded + 1


def test_why_lists_the_callers_words_as_typed_not_stems(seeded_read_only: TestClient) -> None:
    query = "Images have streaks after a popping noise and it isn't scanning"
    typed = set(re.findall(r"[\w']+", query))
    hits = _search(seeded_read_only, query=query)["results"]
    words = hits[0]["why"]["keyword_terms"]
    assert words
    assert set(words) <= typed  # each as the caller typed it: "Images", not "imag"
    assert "Images" in words
    assert len(words) == len(set(words))
    assert f"keywords: {', '.join(words)}" in hits[0]["why"]["summary"]


def test_named_modality_ranks_its_articles_first_unless_filters_say(
    seeded_read_only: TestClient,
) -> None:
    query = "the mammo keeps making a popping noise"
    hits = _search(seeded_read_only, query=query, limit=20)["results"]
    assert hits[0]["why"]["named"] == {"modality": ["MG"]}
    modalities = [h["modality"] for h in hits]
    fits = ("MG", "IT")  # IT articles (PACS, network) fit every modality
    # the articles for a mammography system first, the others after them, each said so
    assert modalities[0] == "MG"
    assert modalities == sorted(modalities, key=lambda m: m not in fits)
    assert set(modalities) - set(fits)
    for hit in hits:
        unlike = hit["modality"] not in fits
        assert hit["why"]["unlike_named"] == unlike
        assert ("not for the MG named" in hit["why"]["summary"]) == unlike
    # an explicit filter wins over the words
    filtered = _search(seeded_read_only, query=query, filters={"modality": "MR"})["results"]
    assert {h["modality"] for h in filtered} == {"MR"}
    assert filtered[0]["why"]["named"] == {}


def test_a_model_named_in_any_spelling_is_named(seeded_read_only: TestClient) -> None:
    for spelt in ("aurion128", "Aurion-128", "AURION 128"):
        hit = _search(seeded_read_only, query=f"{spelt} table stuck")["results"][0]
        assert hit["why"]["named"]["model"] == ["Aurion 128"]
        assert hit["why"]["models"] == ["Aurion 128"]


@pytest.mark.parametrize(
    ("words", "named"),
    [
        ("the MR is down", ["MR"]),
        ("mr knee coil", ["MR"]),
        ("Mr scanner beeping", ["MR"]),
        ("MRI noise", ["MR"]),
        ("Mr Bamford says the CT is down", ["CT"]),
        ("Mr. Okafor rang", []),
    ],
)
def test_mr_names_the_scanner_not_a_person(words: str, named: list[str]) -> None:
    assert modalities_in(words) == named


def test_misspelled_words_are_searched_as_the_library_spells_them(
    seeded_read_only: TestClient,
) -> None:
    typed = _search(seeded_read_only, query="ct makes a popping sound, streaks in the images")
    found = _search(seeded_read_only, query="ct maks a poping sound, streeks in the imagse")
    assert {(c["typed"], c["searched"]) for c in found["corrected"]} >= {
        ("poping", "popping"),
        ("streeks", "streaks"),
    }
    assert found["results"][0]["slug"] == typed["results"][0]["slug"]
    assert "streaks" in found["results"][0]["why"]["keyword_terms"]
    # codes, models and the library's own words stay as typed
    exact = _search(seeded_read_only, query="hv417 on the aurion128 gantry")
    assert exact["corrected"] == []
    assert typed["corrected"] == []
