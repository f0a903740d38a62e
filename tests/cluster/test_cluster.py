"""Three replicas on one PostgreSQL database behind haproxy, as `make cluster` starts them:
requests spread over the replicas, a publish is found on every replica, and a mixed desk
load survives a replica killed with SIGKILL and restarted."""

from __future__ import annotations

import os
import platform
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from app.db import make_engine
from scripts.cluster import Cluster
from tests.calls.conftest import Desk
from tests.cluster.load import MixedLoad, Outcome, percentile
from tests.conftest import article_payload

pytestmark = pytest.mark.postgres

LOAD_SECONDS = 60.0
KILL_AFTER = 15.0  # seconds into the load
SYNC_LIMIT = 10.0  # seconds every replica gets to show every published article afterwards
LAG_P99_LIMIT = 1.0  # seconds: a publish is searchable on every other replica within this


def found_on(url: str, key: str, code: str, article_id: int) -> bool:
    """Whether a replica's own search finds the article by its unique error code."""
    response = httpx.post(
        f"{url}/search", json={"query": code, "limit": 5}, headers={"X-API-Key": key}, timeout=10
    )
    assert response.status_code == 200, response.text
    return any(hit["id"] == article_id for hit in response.json()["results"])


def wait_found_everywhere(
    cluster: Cluster, key: str, articles: dict[int, str], limit: float
) -> dict[str, list[int]]:
    """Search each replica directly until it finds every article (id -> code); returns
    what each replica still misses when the time is up."""
    missing = {r.name: dict(articles) for r in cluster.replicas}
    deadline = time.monotonic() + limit
    while True:
        for r in cluster.replicas:
            for article_id, code in list(missing[r.name].items()):
                if found_on(r.url, key, code, article_id):
                    del missing[r.name][article_id]
        if not any(missing.values()) or time.monotonic() > deadline:
            return {name: sorted(left) for name, left in missing.items() if left}
        time.sleep(0.2)


def test_haproxy_spreads_requests_over_every_replica(cluster: Cluster) -> None:
    names = [r.name for r in cluster.replicas]
    with httpx.Client(base_url=cluster.url, timeout=10) as http:
        answers = [http.get("/health") for _ in range(3 * len(names))]
    served = [a.headers["x-served-by"] for a in answers]
    assert Counter(served) == dict.fromkeys(names, 3)
    # each name is one process of its own, as the replica itself says
    processes = {(a.headers["x-served-by"], a.json()["replica"]) for a in answers}
    assert len(processes) == len({p for _, p in processes}) == len(names)
    assert cluster.server_states() == dict.fromkeys(names, "UP")


def test_an_article_published_through_haproxy_is_found_on_every_replica(
    cluster: Cluster, cluster_desk: Desk
) -> None:
    code = f"PB{uuid.uuid4().hex[:6].upper()}-1"
    body = article_payload(title=f"Published once {code}", error_codes=[code])
    with httpx.Client(base_url=cluster.url, timeout=60) as http:
        created = http.post("/articles", json=body, headers={"X-API-Key": cluster_desk.engineer})
    assert created.status_code == 201, created.text
    missing = wait_found_everywhere(
        cluster, cluster_desk.dispatcher, {created.json()["id"]: code}, limit=5
    )
    assert missing == {}, f"published through {created.headers['x-served-by']}"


def _server_error(o: Outcome) -> bool:
    return o.status is None or o.status >= 500


@pytest.mark.slow
def test_mixed_load_survives_a_replica_killed_and_restarted(
    cluster: Cluster,
    cluster_desk: Desk,
    cluster_database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster.wait_in_rotation()
    victim = cluster.replicas[1]
    load = MixedLoad(
        base_url=cluster.url,
        replicas={r.name: r.url for r in cluster.replicas},
        dispatcher_key=cluster_desk.dispatcher,
        engineer_key=cluster_desk.engineer,
        serial_number="AUR64-0042",
        seconds=LOAD_SECONDS,
    )
    marks: dict[str, float] = {}

    def kill_and_restart() -> None:
        if load.stop.wait(KILL_AFTER):
            return
        load.mark_down(victim.name)
        marks["kill"] = time.perf_counter()
        cluster.kill(victim)
        marks["dead"] = time.perf_counter()
        cluster.restart(victim)
        cluster.wait_in_rotation([victim.name])
        marks["back"] = time.perf_counter()
        load.mark_up(victim.name)

    started = time.perf_counter()
    load.run(kill_and_restart)
    ended = time.perf_counter()
    assert "back" in marks, "the replica was not killed and restarted"

    # no 5xx apart from the requests in flight on the killed replica: those it had when
    # the signal was sent or took before its process was gone (no response at all has no
    # X-Served-By to tell which replica it was on)
    def in_flight_on_victim(o: Outcome) -> bool:
        on_victim = o.served_by in (victim.name, None)
        return on_victim and o.started <= marks["dead"] and o.ended >= marks["kill"]

    failed = [o for o in load.outcomes if _server_error(o)]
    excused = [o for o in failed if in_flight_on_victim(o)]
    unexcused = [o for o in failed if not in_flight_on_victim(o)]
    refused = [o for o in load.outcomes if o.status is not None and 400 <= o.status < 500]

    # every acknowledged write is in the database
    acked = load.acked
    engine = make_engine(cluster_database_url)
    try:
        with engine.connect() as conn:

            def present(table: str, ids: set[int]) -> set[int]:
                rows = conn.execute(
                    text(f"SELECT id FROM {table} WHERE id = ANY(:ids)"), {"ids": sorted(ids)}
                )
                return {row[0] for row in rows}

            stored = {
                row[0]: (row[1], row[2])
                for row in conn.execute(
                    text("SELECT id, version, status FROM articles WHERE id = ANY(:ids)"),
                    {"ids": sorted(acked.articles)},
                )
            }
            lost_calls = acked.calls - present("calls", acked.calls)
            lost_events = acked.events - present("call_events", acked.events)
            lost_escalations = acked.escalations - present("escalations", acked.escalations)
            published = {
                row[0]: row[1].split()[2]
                for row in conn.execute(
                    text(
                        "SELECT id, title FROM articles"
                        " WHERE status = 'published' AND title LIKE :t"
                    ),
                    {"t": f"Load article LD{load.run_id}-%"},
                )
            }
    finally:
        engine.dispose()
    lost_articles = [
        a.id
        for a in acked.articles.values()
        if a.id not in stored
        or stored[a.id][0] < a.version
        or (a.published and stored[a.id][1] != "published")
    ]

    # every published article is found by every replica's own search
    cluster.wait_in_rotation()
    not_found = wait_found_everywhere(cluster, cluster_desk.dispatcher, published, SYNC_LIMIT)

    lags = [lag.seconds for lag in load.lags]
    served_after = sum(
        1 for o in load.outcomes if o.served_by == victim.name and o.started > marks["back"]
    )
    with capsys.disabled():
        _report(load, excused, marks, started, ended, lags, served_after, len(published))

    assert not unexcused, [(o.op, o.status, o.served_by, o.detail) for o in unexcused[:10]]
    assert not refused, [(o.op, o.status, o.detail) for o in refused[:10]]
    assert lost_articles == [], "acknowledged article writes missing from the database"
    assert lost_calls == set(), "acknowledged calls missing from the database"
    assert lost_events == set(), "acknowledged attempts missing from the database"
    assert lost_escalations == set(), "acknowledged escalations missing from the database"
    assert len(acked.articles) > 10, "the load wrote too few articles"
    assert len(acked.escalations) > 5, "the load escalated too few calls"
    assert not_found == {}, _explain(not_found, load, marks, cluster)
    assert not load.lost, f"never found within the probe limit: {load.lost[:10]}"
    assert not load.probe_errors, load.probe_errors[:10]
    assert lags, "no publish was measured"
    assert percentile(lags, 99) <= LAG_P99_LIMIT, f"visibility lag p99 {percentile(lags, 99):.3f} s"


def _explain(
    not_found: dict[str, list[int]], load: MixedLoad, marks: dict[str, float], cluster: Cluster
) -> str:
    """Which replica misses which article, when its last acknowledged write was (seconds
    from the kill), and what each replica's /health says."""
    lines = []
    for name, ids in not_found.items():
        when = [
            f"{i}@{load.acked.articles[i].at - marks['kill']:+.1f}s"
            if i in load.acked.articles
            else f"{i}@unacknowledged"
            for i in ids
        ]
        lines.append(f"{name} misses {', '.join(when)}")
    lines.append(f"back in rotation at {marks['back'] - marks['kill']:+.1f}s")
    for r in cluster.replicas:
        lines.append(f"{r.name} /health: {httpx.get(f'{r.url}/health', timeout=10).text}")
    return "\n".join(lines)


def _report(
    load: MixedLoad,
    excused: list[Outcome],
    marks: dict[str, float],
    started: float,
    ended: float,
    lags: list[float],
    served_after: int,
    published: int,
) -> None:
    """What the run did, printed whatever the asserts find."""
    by_op: dict[str, list[Outcome]] = defaultdict(list)
    for o in load.outcomes:
        by_op[o.op].append(o)
    cpu = _cpu()
    print(f"\n-- cluster mixed load: {load.clients} clients, {ended - started:.0f} s, {cpu}")
    for op, outs in sorted(by_op.items()):
        times = [o.ended - o.started for o in outs if o.status is not None and o.status < 400]
        errors = Counter(o.status for o in outs if o.status is None or o.status >= 400)
        print(
            f"   {op:18} {len(outs):5}  p50 {percentile(times, 50) * 1000:6.0f} ms"
            f"  p99 {percentile(times, 99) * 1000:6.0f} ms  errors {dict(errors) or 0}"
        )
    print(
        f"   killed at {marks['kill'] - started:.1f} s, back in rotation "
        f"{marks['back'] - marks['kill']:.1f} s later, then served {served_after} requests; "
        f"5xx in flight on it: {len(excused)}"
        f" ({Counter((o.op, o.status) for o in excused)})"
    )
    print(
        f"   acknowledged: {len(load.acked.articles)} articles, {len(load.acked.calls)} calls, "
        f"{len(load.acked.events)} attempts, {len(load.acked.escalations)} escalations; "
        f"{published} load articles published"
    )
    print(
        f"   visibility lag on the other replicas: p50 {percentile(lags, 50) * 1000:.0f} ms, "
        f"p99 {percentile(lags, 99) * 1000:.0f} ms, max {max(lags, default=0) * 1000:.0f} ms "
        f"over {len(lags)} (publish, replica) pairs"
    )
    phases = {
        "before the kill": (started, marks["kill"]),
        "while it restarted": (marks["kill"], marks["back"]),
        "after it was back": (marks["back"], ended),
    }
    for phase, (since, until) in phases.items():
        some = [lag.seconds for lag in load.lags if since <= lag.acked_at < until]
        print(
            f"     published {phase}: p50 {percentile(some, 50) * 1000:.0f} ms, "
            f"p99 {percentile(some, 99) * 1000:.0f} ms over {len(some)}"
        )


def _cpu() -> str:
    """The CPU model and its widest vector instructions, for the figures."""
    model, flags = platform.processor() or "?", ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        info = cpuinfo.read_text()
        for line in info.splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        flags = next((f for f in ("avx512_vnni", "avx2") if f in info.split()), "")
    return f"{model} ({os.cpu_count()} cores{', ' + flags if flags else ''})"
