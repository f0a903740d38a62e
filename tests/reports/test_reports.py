"""The desk's figures (GET /reports/desk) and article use (GET /reports/articles) over a
small desk built through the API, with the times that matter set in the database; on
SQLite and PostgreSQL, which must give the same numbers."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from app.calls.history import repeat_fault
from app.calls.models import Call, Escalation
from app.reports.export import prefers_csv
from tests.calls.conftest import Desk, make_desk
from tests.conftest import AppFactory, key_for

FROM, TO = "2024-01-29", "2024-03-04"  # Monday to Monday: five whole weeks
RANGE = {"from": FROM, "to": TO}
QUERY = "popping sound and streaks in the images"
ADDITIVE = (
    "calls_opened",
    "calls_resolved",
    "resolved_tier1",
    "first_contact_resolved",
    "calls_escalated",
    "resolved_with_article",
    "responses_due",
    "responses_met",
    "resolutions_due",
    "resolutions_met",
    "calls_with_scanner",
    "repeat_fault_calls",
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (opened, resolved) of each call; c0 is before the range, on the MR scanner
TIMES = {
    "c0": ("2024-01-10 08:00", None),
    "c1": ("2024-01-30 09:00", "2024-01-30 09:20"),  # 20 min
    "c2": ("2024-01-31 10:00", "2024-01-31 10:45"),  # 45 min
    "c3": ("2024-02-01 08:00", "2024-02-01 20:00"),  # 720 min, over system_down's 480
    "c4": ("2024-02-05 08:00", None),
    "c5": ("2024-02-06 12:00", "2024-02-07 12:00"),  # 1440 min: degraded's target exactly
    "c6": ("2024-03-01 07:00", None),
    "c7": ("2024-03-02 07:00", "2024-03-02 08:00"),  # 60 min, after a cancel and reopen
}
# (created, due, accepted) of the escalations
ESCALATED = {
    "c3": ("2024-02-01 08:30", "2024-02-01 09:00", "2024-02-01 09:00"),  # met, on the dot
    "c4": ("2024-02-05 09:00", "2024-02-05 11:00", None),  # never accepted: missed
}


@dataclass
class Built:
    """The desk and what the reports should find on it."""

    desk: Desk
    calls: dict[str, int]
    mr_site: int
    a: int  # fixed c1 at tier 1; named on c5 until c5 was reopened
    b: int  # tried without success on c2; fixed c5 after it was reopened
    shown: dict[int, int]  # article id: calls in the range whose searches showed it

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.desk.client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


def build(desk: Desk) -> Built:
    """Calls c0-c7 worked through the API, then their times set in the database."""
    client, ids = desk.client, {}
    site = client.post("/sites", json={"hospital": "St Other", "department": "MRI"}).json()
    mr = client.post(
        "/assets",
        json={
            "site_id": site["id"],
            "modality": "MR",
            "manufacturer": "Halden",
            "model": "Magnus 3T",
            "serial_number": "MAG-7",
            "primary_engineer_id": desk.field_id,
        },
    ).json()

    def post(path: str, body: dict[str, Any], key: str = desk.dispatcher) -> Any:
        response = client.post(path, json=body, headers=desk.as_(key))
        assert response.status_code in (200, 201), response.text
        return response.json()

    def open_call(name: str, key: str = desk.dispatcher, **body: Any) -> int:
        where = {} if "site_id" in body else {"asset_id": body.pop("asset", desk.asset_id)}
        fields = {"caller_name": "Rita", "callback_number": "+44 20 7946 0123"}
        fields |= {"symptom": QUERY, "urgency": "degraded"}
        ids[name] = post("/calls", fields | where | body, key)["id"]
        return ids[name]

    def search(call: int) -> list[int]:
        return [hit["id"] for hit in post(f"/calls/{call}/search", {"query": QUERY})["results"]]

    search(open_call("c0", asset=mr["id"]))
    shown_on = [search(open_call("c1"))]
    a, b = shown_on[0][:2]
    post(f"/calls/{ids['c1']}/attempts", {"article_id": a, "outcome": "fixed"})
    post(f"/calls/{ids['c1']}/resolve", {"article_id": a})
    shown_on.append(search(open_call("c2", urgency="system_down")))
    post(f"/calls/{ids['c2']}/attempts", {"article_id": b, "outcome": "no_change"})
    post(f"/calls/{ids['c2']}/resolve", {"reason": "fixed_other_means"})
    escalate, sent = {"reason": "still arcing", "nothing_applicable": "no fix applies"}, {}
    for name, urgency, asset in (
        ("c3", "system_down", desk.asset_id),
        ("c4", "degraded", mr["id"]),
    ):
        shown_on.append(search(open_call(name, urgency=urgency, asset=asset)))
        sent[name] = post(f"/calls/{ids[name]}/escalate", escalate)["id"]
    post(f"/escalations/{sent['c3']}/accept", {}, desk.engineer)
    post(f"/calls/{ids['c3']}/resolve", {"notes": "replaced the HV cable"}, desk.engineer)
    open_call("c5", asset=mr["id"])
    post(f"/calls/{ids['c5']}/resolve", {"article_id": a})
    post(f"/calls/{ids['c5']}/reopen", {"reason": "came back"})
    post(f"/calls/{ids['c5']}/resolve", {"article_id": b})
    open_call("c6", desk.engineer, site_id=desk.site_id, modality="CT", urgency="system_down")
    open_call("c7")
    post(f"/calls/{ids['c7']}/cancel", {"reason": "wrong_number"})
    post(f"/calls/{ids['c7']}/reopen", {"reason": "not a wrong number after all"})
    post(f"/calls/{ids['c7']}/resolve", {"reason": "no_fault_found"})

    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        for name, (opened, resolved) in TIMES.items():
            times = {"opened_at": at(opened)} | ({"resolved_at": at(resolved)} if resolved else {})
            session.execute(update(Call).where(Call.id == ids[name]).values(**times))
        for name, (created, due, accepted) in ESCALATED.items():
            session.execute(
                update(Escalation)
                .where(Escalation.call_id == ids[name])
                .values(
                    created_at=at(created),
                    due_at=at(due),
                    accepted_at=at(accepted) if accepted else None,
                )
            )
        session.commit()
    shown = {}
    for hits in shown_on:
        for article in set(hits):
            shown[article] = shown.get(article, 0) + 1
    return Built(desk, ids, site["id"], a, b, shown)


@pytest.fixture
def built(make_client: AppFactory, database_url: str) -> Built:
    # no scheduler: nothing stamps a missed target while the times are being set
    return build(make_desk(make_client(database_url, scheduler=False)))


TOTAL = {
    "key": None,
    "label": "total",
    "calls_opened": 7,
    "calls_resolved": 5,  # c1 c2 c3 c5 c7
    "resolved_tier1": 4,  # c1 c2 c5 c7
    "tier1_resolution_rate": 0.8,
    "first_contact_resolved": 2,  # c1 c2 (c5 was reopened after a resolve, c7 after a cancel)
    "first_contact_resolution_rate": 0.4,
    "calls_escalated": 2,  # c3 c4
    "escalation_rate": 0.2857,  # 2 / 7
    "resolved_with_article": 2,  # c1 (a) c5 (b)
    "kcs_link_rate": 0.4,
    "responses_due": 2,  # c3's accepted, c4's past due
    "responses_met": 1,
    "response_target_met_rate": 0.5,
    "resolutions_due": 7,  # the 5 resolved, c4 and c6 past their targets
    "resolutions_met": 4,  # c1 c2 c5 c7 (c3 took 720 min of 480)
    "resolution_target_met_rate": 0.5714,
    "median_minutes_to_resolve": 60.0,  # 20 45 | 60 | 720 1440
    "median_minutes_to_escalate": 45.0,  # 30 60
    "calls_with_scanner": 6,  # not c6
    "scanners": 2,
    "calls_per_scanner": 3.0,
    "repeat_fault_calls": 2,  # c3 (c1 c2 c3), c5 (c0 c4 c5); not c7 (c2 is 30 days 21 h back)
    "repeat_fault_scanners": 2,
}


def _check_sums(report: dict[str, Any]) -> None:
    """The groups add up to the total."""
    for name in ADDITIVE:
        assert sum(g[name] for g in report["groups"]) == report["total"][name], name


def test_desk_figures_in_total(built: Built) -> None:
    report = built.get("/reports/desk", **RANGE)
    assert report["total"] == TOTAL
    # the same repeat faults as a call's own scanner history says
    with built.desk.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        calls = [session.get(Call, built.calls[name]) for name in TIMES if name != "c0"]
        assert sum(repeat_fault(session, c) for c in calls if c) == TOTAL["repeat_fault_calls"]
    assert report["groups"] == []
    assert report["from"].startswith("2024-01-29T00:00:00")
    assert report["to"].startswith("2024-03-04T00:00:00")
    # [from, to): c1 opened at `from` counts, c4 opened at `to` does not
    part = built.get("/reports/desk", **{"from": "2024-01-30T09:00:00Z", "to": "2024-02-05T08:00"})
    assert part["total"]["calls_opened"] == 3
    assert part["total"]["repeat_fault_calls"] == 1  # c3
    # the repeat-fault window looks back before `from`: c5 counts c0 and c4
    late = built.get("/reports/desk", **{"from": "2024-02-06", "to": "2024-02-07"})["total"]
    assert (late["calls_opened"], late["repeat_fault_calls"]) == (1, 1)
    # an offset is turned into UTC: 2024-02-06T13:00+01:00 is c5's opening
    c5 = built.get("/reports/desk", **{"from": "2024-02-06T13:00:00+01:00", "to": "2024-02-07"})
    assert c5["total"]["calls_opened"] == 1
    # no calls: every rate and median is null, never a division error
    total = built.get("/reports/desk", **{"from": "2023-01-01", "to": "2023-02-01"})["total"]
    assert total["calls_opened"] == total["scanners"] == 0
    rates = [k for k in TOTAL if k.endswith(("_rate", "per_scanner")) or k.startswith("median")]
    assert len(rates) == 9
    assert all(total[k] is None for k in rates)


def test_desk_grouped_by_week_month_and_day(built: Built) -> None:
    week = built.get("/reports/desk", **RANGE, group_by="period", period="week")
    assert (week["group_by"], week["period"]) == ("period", "week")
    assert [g["key"] for g in week["groups"]] == [
        "2024-01-29",
        "2024-02-05",
        "2024-02-12",
        "2024-02-19",
        "2024-02-26",
    ]
    first, second, empty, _, last = week["groups"]
    assert (first["calls_opened"], first["calls_resolved"], first["resolved_tier1"]) == (3, 3, 2)
    assert first["tier1_resolution_rate"] == 0.6667
    assert first["median_minutes_to_resolve"] == 45.0
    assert first["median_minutes_to_escalate"] == 30.0
    assert (first["repeat_fault_calls"], first["first_contact_resolved"]) == (1, 2)
    assert (second["calls_opened"], second["calls_resolved"], second["calls_escalated"]) == (
        2,
        1,
        1,
    )
    assert second["median_minutes_to_resolve"] == 1440.0
    assert (second["responses_due"], second["responses_met"]) == (1, 0)
    assert second["response_target_met_rate"] == 0.0
    assert empty == TOTAL | {
        **dict.fromkeys(ADDITIVE, 0),
        "key": "2024-02-12",
        "label": "2024-02-12",
        "scanners": 0,
        "repeat_fault_scanners": 0,
        **{k: None for k in TOTAL if k.endswith(("_rate", "per_scanner"))},
        "median_minutes_to_resolve": None,
        "median_minutes_to_escalate": None,
    }
    assert (last["calls_opened"], last["calls_resolved"], last["escalation_rate"]) == (2, 1, 0.0)
    assert (last["resolutions_due"], last["resolution_target_met_rate"]) == (2, 0.5)
    assert (last["tier1_resolution_rate"], last["first_contact_resolution_rate"]) == (1.0, 0.0)
    assert last["median_minutes_to_escalate"] is None
    assert week["total"] == TOTAL
    _check_sums(week)

    month = built.get("/reports/desk", **RANGE, group_by="period", period="month")
    assert [(g["key"], g["calls_opened"]) for g in month["groups"]] == [
        ("2024-01", 2),
        ("2024-02", 3),
        ("2024-03", 2),
    ]
    _check_sums(month)
    day = built.get("/reports/desk", **RANGE, group_by="period")  # a day by default
    assert day["period"] == "day"
    assert len(day["groups"]) == 35
    busy = {g["key"]: g["calls_opened"] for g in day["groups"] if g["calls_opened"]}
    assert busy == {
        f"2024-{d}": 1 for d in ("01-30", "01-31", "02-01", "02-05", "02-06", "03-01", "03-02")
    }
    _check_sums(day)


def test_desk_grouped_by_modality_model_site_and_dispatcher(built: Built) -> None:
    desk = built.desk

    def rows(group_by: str) -> list[tuple[Any, str, int]]:
        report = built.get("/reports/desk", **RANGE, group_by=group_by)
        assert report["total"] == TOTAL
        _check_sums(report)
        return [(g["key"], g["label"], g["calls_opened"]) for g in report["groups"]]

    assert rows("modality") == [("CT", "CT", 5), ("MR", "MR", 2)]
    assert rows("model") == [
        ("Nordvale Medical Aurion 64", "Nordvale Medical Aurion 64", 4),
        ("Halden Magnus 3T", "Halden Magnus 3T", 2),
        (None, "(none)", 1),
    ]
    assert rows("site") == [
        (desk.site_id, "St Elsewhere, Radiology", 5),
        (built.mr_site, "St Other, MRI", 2),
    ]
    assert rows("dispatcher") == [
        (desk.dispatcher_id, "Dana Dispatcher", 6),
        (desk.engineer_id, "Tara Tier2", 1),
    ]
    mr = built.get("/reports/desk", **RANGE, group_by="model")["groups"][1]
    assert mr | {"key": None, "label": "total"} == TOTAL | {
        "calls_opened": 2,  # c4 c5
        "calls_resolved": 1,
        "resolved_tier1": 1,
        "tier1_resolution_rate": 1.0,
        "first_contact_resolved": 0,
        "first_contact_resolution_rate": 0.0,
        "calls_escalated": 1,
        "escalation_rate": 0.5,
        "resolved_with_article": 1,
        "kcs_link_rate": 1.0,
        "responses_due": 1,
        "responses_met": 0,
        "response_target_met_rate": 0.0,
        "resolutions_due": 2,
        "resolutions_met": 1,
        "resolution_target_met_rate": 0.5,
        "median_minutes_to_resolve": 1440.0,
        "median_minutes_to_escalate": 60.0,
        "calls_with_scanner": 2,
        "scanners": 1,
        "calls_per_scanner": 2.0,
        "repeat_fault_calls": 1,
        "repeat_fault_scanners": 1,
    }


def _csv(client: TestClient, path: str, params: dict[str, Any], accept: str) -> Any:
    response = client.get(path, params=params, headers={"Accept": accept})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return response


def _cells(row: dict[str, Any], columns: list[str]) -> list[str]:
    return ["" if row[c] is None else str(row[c]) for c in columns]


def test_desk_and_articles_as_csv(built: Built) -> None:
    client = built.desk.client
    params = RANGE | {"group_by": "period", "period": "week"}
    as_json = built.get("/reports/desk", **params)
    response = _csv(client, "/reports/desk", params, "text/csv")
    assert response.headers["content-disposition"] == (
        'attachment; filename="desk-20240129-20240304-period-week.csv"'
    )
    header, *rows = list(csv.reader(io.StringIO(response.text)))
    assert header == list(TOTAL)
    assert rows == [_cells(r, header) for r in [*as_json["groups"], as_json["total"]]]
    assert rows[-1][:3] == ["", "total", "7"]

    articles = built.get("/reports/articles", **RANGE)
    response = _csv(client, "/reports/articles", RANGE, "text/csv;q=0.9, application/json;q=0.5")
    assert "articles-20240129-20240304-shown-0.csv" in response.headers["content-disposition"]
    header, *rows = list(csv.reader(io.StringIO(response.text)))
    assert header[:3] == ["article_id", "slug", "title"]
    assert rows == [_cells(r, header) for r in articles["articles"]]
    # JSON unless text/csv is preferred
    json_too = client.get("/reports/desk", params=RANGE, headers={"Accept": "application/json"})
    assert json_too.headers["content-type"] == "application/json"
    assert json_too.headers["vary"] == "Accept"


def test_accept_header_preference() -> None:
    assert prefers_csv("text/csv")
    assert prefers_csv("text/*")
    assert prefers_csv("text/csv, */*;q=0.8")
    assert prefers_csv("text/csv, */*")  # the more specific range
    assert prefers_csv("application/json;q=0.4, text/csv")
    assert not prefers_csv(None)
    assert not prefers_csv("*/*")
    assert not prefers_csv("application/json")
    assert not prefers_csv("text/csv, application/json")  # a tie: JSON
    assert not prefers_csv("text/csv;q=0.5, application/json")
    assert not prefers_csv("text/csv;q=0")
    assert not prefers_csv("text/html")


def test_articles_figures_sorted_and_paged(built: Built) -> None:
    report = built.get("/reports/articles", **RANGE)
    rows = {r["article_id"]: r for r in report["articles"]}
    assert report["articles_total"] == len(built.shown) == len(rows)
    assert {k: r["shown"] for k, r in rows.items()} == built.shown  # not c0's search
    a, b = rows[built.a], rows[built.b]
    assert (a["opened"], a["tried"], a["fixed"], a["fix_rate"]) == (1, 1, 1, 1.0)
    assert (b["opened"], b["tried"], b["fixed"], b["fix_rate"]) == (1, 2, 1, 0.5)
    others = [r for k, r in rows.items() if k not in (built.a, built.b)]
    assert all((r["tried"], r["fixed"], r["fix_rate"]) == (0, 0, None) for r in others)
    expected = sorted(rows.values(), key=lambda r: (-r["shown"], r["article_id"]))
    assert report["articles"] == expected

    def order(sort: str, **params: Any) -> list[int]:
        page = built.get("/reports/articles", **RANGE, sort=sort, **params)
        assert page["articles_total"] == len(rows)
        return [r["article_id"] for r in page["articles"]]

    ids = sorted(k for k in rows if k not in (built.a, built.b))
    assert order("tried") == [built.b, built.a, *ids]
    assert order("fixed") == sorted([built.a, built.b]) + ids
    assert order("fix_rate") == [built.a, built.b, *ids]
    assert order("fix_rate", limit=1, offset=1) == [built.b]
    assert order("shown", offset=len(rows)) == []
    earlier = built.get("/reports/articles", **{"from": "2024-01-01", "to": "2024-01-29"})
    assert earlier["articles"] == []  # c0's search is before the range
    assert earlier["articles_total"] == 0


def test_default_range_is_the_last_30_days(client: TestClient) -> None:
    report = client.get("/reports/desk").json()
    start, end = datetime.fromisoformat(report["from"]), datetime.fromisoformat(report["to"])
    assert end - start == timedelta(days=30)
    assert (end.hour, end.minute, end.tzinfo) == (0, 0, UTC)
    assert timedelta(0) < end - datetime.now(UTC) <= timedelta(days=1)
    assert report["total"]["calls_opened"] == 0
    only_to = client.get("/reports/articles", params={"to": "2024-03-01"}).json()
    assert only_to["from"].startswith("2024-01-31T00:00:00")


BAD = [
    ("/reports/desk", {"from": "2024-03-01", "to": "2024-02-01"}, "from"),
    ("/reports/desk", {"from": "2024-03-01", "to": "2024-03-01"}, "from"),
    ("/reports/desk", {"from": "2023-01-01", "to": "2024-02-06"}, "from"),  # 401 days
    ("/reports/desk", {"from": "1969-12-01", "to": "1970-01-02"}, "from"),
    ("/reports/desk", {"from": "yesterday"}, "from"),
    ("/reports/desk", {"to": "0001-01-02"}, "to"),
    ("/reports/desk", {"to": "9999-12-31T23:00:00-05:00"}, "to"),
    ("/reports/articles", {"from": "0001-01-01T00:00:00+05:00"}, "from"),
    ("/reports/desk", {"group_by": "hospital"}, "group_by"),
    ("/reports/desk", {"period": "week"}, "period"),
    ("/reports/desk", {"group_by": "site", "period": "week"}, "period"),
    ("/reports/desk", {"group_by": "period", "period": "year"}, "period"),
    ("/reports/articles", {"sort": "title"}, "sort"),
    ("/reports/articles", {"limit": 0}, "limit"),
    ("/reports/articles", {"from": "2024-03-01", "to": "2024-02-01"}, "from"),
]


def test_openapi_documents_both_reports() -> None:
    from app.config import Settings
    from app.main import create_app

    paths = create_app(Settings()).openapi()["paths"]
    for path, names in (
        ("/reports/desk", {"from", "to", "group_by", "period", "accept"}),
        ("/reports/articles", {"from", "to", "sort", "limit", "offset", "accept"}),
    ):
        route = paths[path]["get"]
        assert route["summary"]
        assert route["description"]
        params = {p["name"].lower(): p for p in route["parameters"]}
        assert names <= set(params), params.keys()
        assert all(params[n].get("description") for n in names), path
        assert set(route["responses"]["200"]["content"]) == {"application/json", "text/csv"}


def test_bad_parameters_get_422_naming_the_field(client: TestClient) -> None:
    for path, params, field in BAD:
        response = client.get(path, params=params)
        assert response.status_code == 422, (path, params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [field], (path, params)
    # 400 days is the longest range
    response = client.get("/reports/desk", params={"from": "2023-01-01", "to": "2024-02-05"})
    assert response.status_code == 200, response.text


def test_reports_need_reports_read(client: TestClient) -> None:
    for role, status in (("dispatcher", 403), ("field_engineer", 403), ("engineer", 200)):
        _, key = key_for(client, role)
        for path in ("/reports/desk", "/reports/articles"):
            response = client.get(path, headers={"X-API-Key": key})
            assert response.status_code == status, (role, path, response.text)
            if status == 403:
                assert response.json()["missing_permissions"] == ["reports:read"]


@pytest.mark.slow
@pytest.mark.postgres
def test_bench_reports_script_seeds_and_times_every_report(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from scripts.bench_reports import DESK_CASES, main
    from tests.conftest import PG_SKIP, PG_URL

    if PG_SKIP:
        pytest.skip(PG_SKIP)
    assert PG_URL
    assert main(["--database-url", PG_URL, "--calls", "400", "--runs", "2"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["seeded"]["calls"] == 400
    assert summary["seeded"]["escalations"] > 0
    assert len(summary["results"]) == 2 * (len(DESK_CASES) + 2)  # 90 and 180 days
    assert all(0 < r["p50_ms"] <= r["max_ms"] for r in summary["results"])
    assert summary["cpu"]
