"""How long the desk reports take over a large desk on PostgreSQL (docs/reports.md).

    python -m scripts.bench_reports --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
        [--calls 100000] [--runs 5] [--schema NAME] [--keep] [--seed 1]

Seeds `--calls` calls opened over the last 180 days into a new schema of that database
(dropped at the end unless `--keep`; `--schema` with a schema kept before reuses its
calls), written in bulk through SQLAlchemy Core, not the API: several sites, modalities,
models and dispatchers; 60% resolved at tier 1 (most naming an article, a few reopened
first), 25% escalated (most accepted, most of those resolved at tier 2), the rest
cancelled or still open; searches suggesting articles, some tried, some fixed; the
timeline events and target stamps that go with each. Then the tables are vacuumed and
analysed (as autovacuum leaves a live database) and each report is timed `--runs` times
over the last 90 and 180 days: the desk report without groups, by day, week and month,
by modality, model, site and dispatcher, and the article report sorted by shown and by
fix rate. Prints p50 and max per report, the CPU and the server, then one JSON line.
The time is the service function's (SQL and the response model), not HTTP's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import accumulate
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, func, insert, select, text
from sqlalchemy.orm import Session

from app.articles.models import Article
from app.assets.models import Asset, Site
from app.auth.models import Person
from app.calls.models import (
    Call,
    CallArticle,
    CallEvent,
    CallState,
    Escalation,
    EscalationStatus,
    EventKind,
)
from app.config import Settings
from app.db import make_engine, make_sessionmaker, migrate
from app.reports import articles, service
from app.reports.schemas import ArticleSort, GroupBy, Period

DAYS = 180
# per call seeded: 100,000 calls (~550 a day, a large manufacturer's desk) come from 400
# sites with 20,000 scanners, and 1,500 articles
SITES_PER_CALL, SCANNERS_PER_CALL, ARTICLES_PER_CALL = 1 / 250, 1 / 5, 1 / 66
DISPATCHERS = 40
BATCH = 10_000
MODELS = {  # modality: (share of scanners, [(manufacturer, model)])
    "CT": (25, [("Nordvale Medical", "Aurion 64"), ("Nordvale Medical", "Aurion 128"),
                ("Kestrel", "Helix S"), ("Tamsin", "Vista CT")]),
    "MR": (20, [("Halden", "Magnus 1.5T"), ("Halden", "Magnus 3T"), ("Kestrel", "Field 3")]),
    "XR": (20, [("Tamsin", "DR 500"), ("Orrin", "Flat X"), ("Kestrel", "Rad 2")]),
    "US": (15, [("Orrin", "Sono 7"), ("Tamsin", "Echo 3")]),
    "MG": (7, [("Halden", "Mammo D")]),
    "RF": (5, [("Orrin", "Fluoro 2")]),
    "XA": (4, [("Nordvale Medical", "Angio Arc")]),
    "NM": (4, [("Halden", "Gamma 2")]),
}  # fmt: skip
# every call row names every column set on some call (a bulk insert's rows share keys)
CALL_OPTIONAL = (
    "resolved_at",
    "resolved_tier",
    "fixed_by_article_id",
    "resolution_reason",
    "resolution_notes",
    "closed_at",
    "cancel_reason",
    "cancelled_at",
    "resolution_missed_at",
)
URGENCY = {"system_down": 10, "degraded": 40, "intermittent": 35, "question": 15}
# (group_by, period) of each desk report timed
DESK_CASES: list[tuple[GroupBy | None, Period | None]] = [
    (None, None),
    (GroupBy.PERIOD, Period.DAY),
    (GroupBy.PERIOD, Period.WEEK),
    (GroupBy.PERIOD, Period.MONTH),
    (GroupBy.MODALITY, None),
    (GroupBy.MODEL, None),
    (GroupBy.SITE, None),
    (GroupBy.DISPATCHER, None),
]


@dataclass
class Rows:
    """Every row to insert, by table."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: str, row: dict[str, Any]) -> None:
        """Queue one row."""
        self.tables.setdefault(table, []).append(row)


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _minutes(rng: random.Random, median: float, spread: float = 0.9) -> timedelta:
    """A lognormal duration around `median` minutes (durations have long tails)."""
    return timedelta(minutes=median * math.exp(rng.gauss(0, spread)))


def _opened(rng: random.Random, now: datetime) -> datetime:
    """A moment in the last DAYS days, mostly on weekdays in working hours."""
    while True:
        day = (now - timedelta(days=rng.uniform(0, DAYS))).date()
        if day.weekday() < 5 or rng.random() < 0.25:
            break
    hour = min(max(rng.gauss(12, 3), 0), 23.99)
    at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour)
    return min(at, now - timedelta(minutes=1))


def seed_people_and_scanners(
    rows: Rows, rng: random.Random, now: datetime, calls: int
) -> dict[str, Any]:
    """Dispatchers, engineers, sites, scanners and articles for `calls` calls; returns what
    the calls pick from."""
    sites = max(5, round(calls * SITES_PER_CALL))
    scanners = max(20, round(calls * SCANNERS_PER_CALL))
    people = {"dispatcher": DISPATCHERS, "engineer": 15, "field_engineer": 40}
    ids: dict[str, list[int]] = {}
    n = 0
    for role, count in people.items():
        for i in range(count):
            n += 1
            ids.setdefault(role, []).append(n)
            rows.add("people", {"id": n, "name": f"Bench {role} {i + 1}", "roles": [role]})
    for s in range(1, sites + 1):
        hospital, department = f"Bench Hospital {(s + 1) // 2}", ("Radiology", "Imaging")[s % 2]
        rows.add("sites", {"id": s, "hospital": hospital, "department": department})
    assets: list[tuple[int, int, str]] = []  # (id, site, modality)
    shares = {m: share for m, (share, _) in MODELS.items()}
    for a in range(1, scanners + 1):
        modality = _weighted(rng, shares)
        manufacturer, model = rng.choice(MODELS[modality][1])
        site = rng.randint(1, sites)
        assets.append((a, site, modality))
        rows.add(
            "assets",
            {
                "id": a,
                "site_id": site,
                "modality": modality,
                "manufacturer": manufacturer,
                "model": model,
                "serial_number": f"BENCH-{a:05d}",
                "primary_engineer_id": rng.choice(ids["field_engineer"]),
            },
        )
    articles: dict[str, list[int]] = {}
    for a in range(1, max(20, round(calls * ARTICLES_PER_CALL)) + 1):
        modality = _weighted(rng, shares)
        articles.setdefault(modality, []).append(a)
        rows.add(
            "articles",
            {
                "id": a,
                "slug": f"bench-{a}",
                "title": f"Bench article {a}",
                "issue": "A fault seen on calls.",
                "modality": modality,
                "status": "published",
                "author": "Bench",
                "updated_by": "Bench",
                "version": 1,
                "content_hash": f"{a:064d}",
                "created_at": now - timedelta(days=400),
                "updated_at": now - timedelta(days=400),
            },
        )
    # a few scanners get most calls (so some have repeat faults); a few articles most use
    # (about a third of calls are repeat faults; the busiest scanner has ~13 calls a month)
    scanner_weights = list(accumulate(1 / (rank + 50) ** 0.6 for rank in range(len(assets))))
    return {
        "sites": sites,
        "people": ids,
        "assets": assets,
        "scanner_weights": scanner_weights,
        "articles": articles,
    }


class CallSeeder:
    """One call at a time, with its events, escalation and article links."""

    def __init__(self, rows: Rows, rng: random.Random, now: datetime, world: dict[str, Any]):
        self.rows, self.rng, self.now, self.world = rows, rng, now, world
        settings = Settings()
        self.response = settings.response_target_minutes
        self.resolution = settings.resolution_target_minutes
        self.event_id = 0
        self.escalation_id = 0

    def event(self, call_id: int, kind: EventKind, at: datetime, actor: int) -> None:
        """A timeline entry (the reports read only their kinds and times)."""
        self.event_id += 1
        row = {"id": self.event_id, "call_id": call_id, "kind": str(kind), "actor_id": actor}
        self.rows.add("call_events", row | {"actor_name": "Bench", "at": at, "data": {}})

    def articles(self, call_id: int, modality: str, at: datetime, actor: int) -> list[int]:
        """The articles a search suggested (the first opened and, mostly, tried)."""
        every = self.world["articles"]
        pool = every.get(modality) or next(iter(every.values()))
        picked = list(dict.fromkeys(int(len(pool) * self.rng.random() ** 2) for _ in range(3)))
        shown = [pool[i] for i in picked]
        self.event(call_id, EventKind.SEARCHED, at, actor)
        for rank, article in enumerate(shown):
            tried = rank == 0 and self.rng.random() < 0.8
            outcome = self.rng.choice(["no_change", "no_change", "could_not_do"]) if tried else None
            link = {"call_id": call_id, "article_id": article, "suggested": 1, "opened": rank == 0}
            self.rows.add("call_articles", link | {"outcome": outcome, "fixed_tier": None})
            if tried:
                self.event(call_id, EventKind.STEP_TRIED, at + timedelta(minutes=3), actor)
        return shown

    def call(self, call_id: int) -> None:
        """One call and everything that happened to it."""
        rng, now, world = self.rng, self.now, self.world
        opened = _opened(rng, now)
        dispatcher = rng.choice(world["people"]["dispatcher"])
        urgency = _weighted(rng, URGENCY)
        if rng.random() < 0.95:
            asset_id, site_id, modality = rng.choices(
                world["assets"], cum_weights=world["scanner_weights"]
            )[0]
        else:  # the caller did not know which scanner
            site_id = rng.randint(1, world["sites"])
            asset_id, modality = None, rng.choice(list(MODELS))
        row: dict[str, Any] = dict.fromkeys(CALL_OPTIONAL) | {
            "id": call_id,
            "caller_name": "Bench caller",
            "asset_id": asset_id,
            "site_id": site_id,
            "modality": modality,
            "symptom": "Bench symptom",
            "urgency": urgency,
            "state": CallState.OPEN,
            "opened_by": dispatcher,
            "opened_at": opened,
        }
        self.event(call_id, EventKind.OPENED, opened, dispatcher)
        shown = self.articles(call_id, modality, opened + timedelta(minutes=2), dispatcher)
        fate = rng.random()
        if fate < 0.60:
            self._tier1(row, shown, dispatcher)
        elif fate < 0.85:
            self._escalated(row, dispatcher)
        elif fate < 0.92:
            cancelled = min(opened + _minutes(rng, 10), now)
            row |= {"state": CallState.CANCELLED, "cancel_reason": "duplicate"}
            row["cancelled_at"] = cancelled
            self.event(call_id, EventKind.CANCELLED, cancelled, dispatcher)
        # the scheduler's stamp on a call resolved late, or still worked past its target
        due = opened + timedelta(minutes=self.resolution[urgency])
        resolved = row["resolved_at"]
        worked = row["state"] in (CallState.OPEN, CallState.ESCALATED, CallState.ACCEPTED)
        if (resolved is not None and resolved > due) or (worked and due <= now):
            row["resolution_missed_at"] = due + timedelta(seconds=rng.uniform(0, 15))
        self.rows.add("calls", row)

    def _resolve(self, row: dict[str, Any], at: datetime, tier: int, actor: int) -> bool:
        """Resolve the call at `at` (and mostly close it two days on); False when `at`
        has not come yet."""
        if at > self.now:
            return False
        row |= {"state": CallState.RESOLVED, "resolved_at": at, "resolved_tier": tier}
        if at <= self.now - timedelta(days=2) and self.rng.random() < 0.7:
            row["state"], row["closed_at"] = CallState.CLOSED, at + timedelta(days=2)
        self.event(row["id"], EventKind.RESOLVED, at, actor)
        return True

    def _tier1(self, row: dict[str, Any], shown: list[int], dispatcher: int) -> None:
        rng = self.rng
        at = row["opened_at"] + _minutes(rng, 25)
        if rng.random() < 0.04 and at + timedelta(hours=30) < self.now:
            # resolved, reopened, resolved again
            self.event(row["id"], EventKind.RESOLVED, at, dispatcher)
            at += _minutes(rng, 600)
        if not self._resolve(row, at, 1, dispatcher):
            return
        if rng.random() < 0.7:
            row["fixed_by_article_id"] = shown[0]
            fixed = self.rows.tables["call_articles"][-len(shown)]
            assert fixed["article_id"] == shown[0]
            fixed |= {"outcome": "fixed", "fixed_tier": 1, "opened": True}
        else:
            row["resolution_reason"] = "fixed_other_means"

    def _escalated(self, row: dict[str, Any], dispatcher: int) -> None:
        rng, now = self.rng, self.now
        urgency, engineer = row["urgency"], rng.choice(self.world["people"]["engineer"])
        created = min(row["opened_at"] + _minutes(rng, 20), now)
        target = self.response[urgency]
        due = created + timedelta(minutes=target)
        accepted: datetime | None = created + _minutes(rng, target * 0.5, 0.7)
        if accepted is not None and (accepted > now or rng.random() < 0.05):
            accepted = None
        self.escalation_id += 1
        row["state"] = CallState.ESCALATED
        status = EscalationStatus.PENDING
        self.event(row["id"], EventKind.ESCALATED, created, dispatcher)
        if accepted is not None:
            row["state"], status = CallState.ACCEPTED, EscalationStatus.ACCEPTED
            self.event(row["id"], EventKind.ACCEPTED, accepted, engineer)
            fate = rng.random()
            if fate < 0.85:
                if self._resolve(row, accepted + _minutes(rng, 360, 1.1), 2, engineer):
                    row["resolution_notes"] = "Bench notes"
                    status = EscalationStatus.CLOSED
            elif fate < 0.92:
                row["state"] = CallState.FIELD
        late = due <= now and (accepted is None or accepted > due)
        self.rows.add(
            "escalations",
            {
                "id": self.escalation_id,
                "call_id": row["id"],
                "reason": "Bench escalation",
                "urgency": urgency,
                "status": status,
                "package": {},
                "created_by": dispatcher,
                "created_at": created,
                "due_at": due,
                "accepted_by": engineer if accepted else None,
                "accepted_at": accepted,
                "response_missed_at": due if late else None,
            },
        )


TABLES = [Person, Site, Asset, Article, Call, Escalation, CallEvent, CallArticle]


def seed(engine: Engine, calls: int, rng: random.Random, now: datetime) -> dict[str, int]:
    """Write the desk; returns the rows written per table."""
    rows = Rows()
    world = seed_people_and_scanners(rows, rng, now, calls)
    seeder = CallSeeder(rows, rng, now, world)
    for call_id in range(1, calls + 1):
        seeder.call(call_id)
    written = {}
    with engine.begin() as conn:
        for model in TABLES:
            table: Table = model.__table__  # type: ignore[assignment]
            batch = rows.tables.get(table.name, [])
            for start in range(0, len(batch), BATCH):
                conn.execute(insert(table), batch[start : start + BATCH])
            written[table.name] = len(batch)
            if "id" in table.c and batch:  # the app's own inserts continue after these
                conn.execute(
                    text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :n)"),
                    {"t": table.name, "n": max(r["id"] for r in batch)},
                )
    return written


def cpu() -> dict[str, Any]:
    """The CPU's model name, family and model numbers, and the cores."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""

    def read(name: str) -> str | None:
        found = re.search(rf"^{name}\s*:\s*(.*?)\s*$", info, re.MULTILINE)
        return found.group(1) if found else None

    return {
        "cpu": read("model name") or "unknown",
        "cpu_family": read("cpu family"),
        "model": read("model"),
        "cores": os.cpu_count(),
    }


def timed(runs: int, work: Callable[[], object]) -> list[float]:
    """Milliseconds of each of `runs` runs."""
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        out.append((time.perf_counter() - started) * 1000)
    return out


def cases(window: service.Window, now: datetime) -> list[tuple[str, Callable[[Session], object]]]:
    """(name, report) of every report timed over `window`."""
    minutes = Settings().resolution_target_minutes
    out: list[tuple[str, Callable[[Session], object]]] = []
    for group_by, period in DESK_CASES:
        name = "desk" + (f" by {group_by}" if group_by else "") + (f" {period}" if period else "")
        report = partial(
            _desk, window=window, group_by=group_by, period=period, minutes=minutes, now=now
        )
        out.append((name, report))
    for sort in (ArticleSort.SHOWN, ArticleSort.FIX_RATE):
        out.append((f"articles by {sort}", partial(_articles, window=window, sort=sort)))
    return out


def _desk(
    session: Session,
    *,
    window: service.Window,
    group_by: GroupBy | None,
    period: Period | None,
    minutes: dict[str, int],
    now: datetime,
) -> object:
    return service.desk(
        session=session,
        window=window,
        group_by=group_by,
        period=period,
        resolution_minutes=minutes,
        now=now,
    )


def _articles(session: Session, *, window: service.Window, sort: ArticleSort) -> object:
    return articles.report(session=session, window=window, sort=sort, limit=50, offset=0)


def bench(engine: Engine, runs: int) -> list[dict[str, Any]]:
    """Time every report over the last 90 and 180 days."""
    sessions = make_sessionmaker(engine)
    results = []
    for days in (90, 180):
        now = datetime.now(UTC)
        end = service.window(start=None, end=None, now=now).end
        window = service.window(start=end - timedelta(days=days), end=end, now=now)
        for name, report in cases(window, now):

            def once(report: Callable[[Session], object] = report) -> object:
                with sessions() as session:
                    return report(session)

            ms = timed(runs, once)
            p50, worst = round(statistics.median(ms), 1), round(max(ms), 1)
            results.append({"report": name, "days": days, "p50_ms": p50, "max_ms": worst})
            print(f"{name:<32} {days:>4} d {p50:>9} {worst:>9}")
    return results


@contextmanager
def schema(url: str, name: str | None, keep: bool) -> Iterator[tuple[str, bool]]:
    """A schema of the database (new unless `name` exists): (URL using it, whether it
    existed); dropped afterwards unless kept or reused."""
    name = name or f"bench_reports_{uuid.uuid4().hex[:8]}"
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise SystemExit(f"--schema {name!r}: lower-case letters, digits and _ only")
    admin = create_engine(url)
    with admin.begin() as conn:
        existed = bool(
            conn.scalar(text("SELECT count(*) FROM pg_namespace WHERE nspname = :n"), {"n": name})
        )
        if not existed:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{name}", existed
    finally:
        if not keep and not existed:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    """Seed, time, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database")
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each report")
    parser.add_argument("--schema", help="schema to use (kept); an existing one is reused")
    parser.add_argument("--keep", action="store_true", help="keep the new schema")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        parser.error("--database-url must name a PostgreSQL database")
    if args.calls < 1 or args.runs < 1:
        parser.error("--calls and --runs must be 1 or more")
    machine = cpu()
    with schema(args.database_url, args.schema, args.keep or bool(args.schema)) as (url, old):
        engine = make_engine(url)
        migrate(engine)
        with engine.connect() as conn:
            have = conn.scalar(select(func.count()).select_from(Call)) or 0
            server = str(conn.scalar(text("SHOW server_version")))
        seeded: dict[str, int] = {}
        if have:
            print(f"reusing the {have} calls of the schema")
        else:
            started = time.perf_counter()
            now = datetime.now(UTC)
            seeded = seed(engine, args.calls, random.Random(args.seed), now)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for model in TABLES:
                    conn.execute(text(f"VACUUM ANALYZE {model.__tablename__}"))
            print(f"seeded {seeded} in {time.perf_counter() - started:.0f} s")
        print(f"CPU: {machine['cpu']} (family {machine['cpu_family']} model "
              f"{machine['model']}, {machine['cores']} cores); PostgreSQL {server}")  # fmt: skip
        print(f"{'report':<32} {'range':>6} {'p50 ms':>9} {'max ms':>9}")
        results = bench(engine, args.runs)
        engine.dispose()
    summary = {
        "benchmark": "reports",
        "calls": have or args.calls,
        "runs": args.runs,
        "postgresql": server,
        **machine,
        "seeded": seeded,
        "results": results,
        "worst_p50_ms": max(r["p50_ms"] for r in results),
        "worst_max_ms": max(r["max_ms"] for r in results),
        "reused_schema": old,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
