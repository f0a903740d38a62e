"""One calibrated confidence per hit and a match level per search: the model itself, the
search API on the seed library, a call's search, the gap it makes and the console."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.search.index import DEFAULT_CALIBRATION, Calibration, CalibrationError
from embeddings.confidence import FEATURES, Match, Strength, features
from embeddings.fusion import Candidate
from tests.calls.conftest import Desk

# questions the seed library does not answer, as the issue that asked for this put them
OFF_LIBRARY = [
    "the coffee machine in the staff room is leaking",
    "zzqx flibbertigibbet",
    "my e-mail password expired and outlook keeps asking",
]
SURE = ["error HV-417", "CT makes a popping sound and the images have streaks"]


def _search(client: TestClient, **body: object) -> dict:
    response = client.post("/search", json=body)
    assert response.status_code == 200, response.text
    return response.json()


# -- the model ---------------------------------------------------------------------------


def test_fit_learns_which_feature_says_right() -> None:
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, size=(2000, len(FEATURES)))
    # right exactly when the headline cosine is high: the model must say so, and its
    # probabilities must match the frequencies it was fitted on
    y = (x[:, 0] + rng.normal(0, 0.1, 2000) > 0.6).astype(float)
    model = Calibration.fit(x, y)
    assert model.coef[0] > 5 * max(abs(c) for c in model.coef[1:])
    p = model.probabilities(x)
    for lo in (0.0, 0.5):
        chosen = (p >= lo) & (p < lo + 0.5)
        assert abs(p[chosen].mean() - y[chosen].mean()) < 0.05


def test_levels_follow_the_thresholds() -> None:
    model = replace(Calibration.load(DEFAULT_CALIBRATION), possible=0.2, strong=0.7)
    assert [model.match(c) for c in (None, 0.0, 0.19, 0.2, 0.69, 0.7, 1.0)] == [
        Match.NONE,
        Match.NONE,
        Match.NONE,
        Match.POSSIBLE,
        Match.POSSIBLE,
        Match.STRONG,
        Match.STRONG,
    ]
    assert [model.strength(c) for c in (0.1, 0.5, 0.9)] == [
        Strength.WEAK,
        Strength.POSSIBLE,
        Strength.STRONG,
    ]
    with pytest.raises(CalibrationError, match="possible"):
        replace(model, possible=0.8, strong=0.7)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    shipped = Calibration.load(DEFAULT_CALIBRATION)
    assert 0 < shipped.possible < shipped.strong < 1
    assert shipped.fitted["command"] == "python -m scripts.calibrate --write"
    shipped.save(tmp_path / "c.json")
    assert Calibration.load(tmp_path / "c.json") == shipped


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d.pop("intercept"), "missing field 'intercept'"),
        (lambda d: d.update(features=["headline"]), "features: fitted on"),
        (lambda d: d.update(coef=[1.0]), "coef: 1 values"),
        (lambda d: d.update(strong="high"), "could not convert"),
    ],
)
def test_a_file_that_does_not_fit_names_itself_and_the_field(
    tmp_path: Path, change: object, named: str
) -> None:
    data = json.loads(DEFAULT_CALIBRATION.read_text())
    change(data)  # type: ignore[operator]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CalibrationError) as raised:
        Calibration.load(path)
    assert str(path) in str(raised.value) or named.startswith("coef")
    assert named in str(raised.value)


# -- the search API on the seed library -----------------------------------------------


@pytest.mark.parametrize("query", SURE)
def test_a_sure_answer_is_a_strong_match(seeded_read_only: TestClient, query: str) -> None:
    found = _search(seeded_read_only, query=query)
    assert found["match"] == "strong"
    top = found["results"][0]
    assert top["slug"] == "ct-tube-arcing-popping"
    assert top["strength"] == "strong"
    assert top["confidence"] >= Calibration.load(DEFAULT_CALIBRATION).strong
    assert all(0 <= hit["confidence"] <= 1 for hit in found["results"])
    assert max(hit["confidence"] for hit in found["results"]) == top["confidence"]


@pytest.mark.parametrize("query", OFF_LIBRARY)
def test_a_question_the_library_does_not_answer_is_no_match(
    seeded_read_only: TestClient, query: str
) -> None:
    found = _search(seeded_read_only, query=query)
    assert found["match"] == "none"
    assert found["results"], "the results are still listed"
    assert {hit["strength"] for hit in found["results"]} == {"weak"}
    # the lanes' scores stay in the why
    assert {"semantic", "keyword_score"} <= set(found["results"][0]["why"])


def test_openapi_describes_confidence_and_match(seeded_read_only: TestClient) -> None:
    schemas = seeded_read_only.get("/openapi.json").json()["components"]["schemas"]
    hit, response = schemas["SearchHit"]["properties"], schemas["SearchResponse"]["properties"]
    assert "probability" in hit["confidence"]["description"]
    assert hit["strength"]["enum"] == ["strong", "possible", "weak"]
    assert response["match"]["enum"] == ["strong", "possible", "none"]
    assert "knowledge gap" in response["match"]["description"]


# -- on a call: what is left to try decides, the gap, the console -------------------------


def _call(desk: Desk, symptom: str) -> int:
    created = desk.client.post(
        "/calls",
        headers=desk.as_(desk.dispatcher),
        json={
            "caller_name": "Rita",
            "callback_number": "+44 20 7946 0123",
            "asset_id": desk.asset_id,
            "symptom": symptom,
            "urgency": "degraded",
        },
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def test_a_call_with_its_strong_fix_failed_has_no_match_left(desk: Desk) -> None:
    call_id, as_dispatcher = _call(desk, "error HV-417"), desk.as_(desk.dispatcher)
    first = desk.client.post(f"/calls/{call_id}/search", headers=as_dispatcher, json={})
    assert first.status_code == 200, first.text
    assert first.json()["match"] == "strong"
    top = first.json()["results"][0]
    tried = desk.client.post(
        f"/calls/{call_id}/attempts",
        headers=as_dispatcher,
        json={"article_id": top["id"], "outcome": "no_change"},
    )
    assert tried.status_code == 201, tried.text
    again = desk.client.post(f"/calls/{call_id}/search", headers=as_dispatcher, json={}).json()
    assert again["results"][-1]["id"] == top["id"]
    assert again["results"][-1]["demoted"]
    assert again["match"] == "none", [(h["title"], h["confidence"]) for h in again["results"]]

    # the timeline keeps each search's match and each hit's confidence
    timeline = desk.client.get(f"/calls/{call_id}", headers=as_dispatcher).json()["timeline"]
    searched = [e["data"] for e in timeline if e["kind"] == "searched"]
    assert [s["match"] for s in searched] == ["strong", "none"]
    assert searched[0]["results"][0]["confidence"] == top["confidence"]


def test_a_no_match_search_is_a_gap_and_the_console_folds_it(desk: Desk) -> None:
    query = OFF_LIBRARY[0]
    call_id = _call(desk, query)
    found = desk.client.post(
        f"/calls/{call_id}/search", headers=desk.as_(desk.dispatcher), json={"query": query}
    ).json()
    assert found["match"] == "none"
    sure = _call(desk, "error HV-417")
    desk.client.post(f"/calls/{sure}/search", headers=desk.as_(desk.dispatcher), json={})

    report = desk.client.get("/reports/gaps", headers=desk.as_(desk.engineer)).json()
    examples = [e for g in report["groups"] for e in g["examples"]]
    assert query in examples
    assert "error HV-417" not in examples, "a strong match is no gap"
    best = max(h["confidence"] for h in found["results"])
    (group,) = [g for g in report["groups"] if query in g["examples"]]
    assert group["best_confidence"] == round(best, 4)
    assert group["reasons"][0] == f"no good match (best confidence {best:.0%})"
    assert report["no_match_below"] == Calibration.load(DEFAULT_CALIBRATION).possible


def test_a_search_and_the_fitted_model_agree_on_every_hit() -> None:
    model = Calibration.load(DEFAULT_CALIBRATION)
    hits = [
        Candidate(1, 0.62, 0.51, 3.2, 1.0, ["HV-417"], [], 10.9),
        Candidate(2, 0.48, 0.44, 1.1, 0.34, [], ["Aurion 128"], 0.71, unlike_named=True),
        Candidate(3, 0.31, 0.22, 0.0, 0.0, [], [], 0.35),
    ]
    searched = model.confidences(hits, terms=4, documents=156)
    fitted = model.probabilities(features(hits, terms=4, documents=156))
    assert np.allclose(searched, fitted, rtol=1e-12)
    assert searched[0] > 0.99 > 0.01 > max(searched[1:]), "an exact code leads by far"
    assert model.confidences([], terms=1, documents=156) == []
