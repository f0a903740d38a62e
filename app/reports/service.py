"""The service desk's figures over the calls opened in a range, aggregated in SQL: one
statement for every count (per group and in total), medians from PostgreSQL's
percentile_cont or, on SQLite, from ranked rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Subquery,
    and_,
    case,
    distinct,
    func,
    literal_column,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from app.assets.models import Asset, Site
from app.auth.models import Person
from app.calls.history import REPEAT_CALLS, REPEAT_DAYS
from app.calls.models import Call, CallEvent, Escalation, EscalationStatus, EventKind
from app.errors import InvalidInput
from app.later import wait_for_records
from app.reports import sql
from app.reports.schemas import (
    DeskFigures,
    DeskReport,
    GroupBy,
    Period,
)
from app.targets.service import WORKED

DEFAULT_DAYS = 30
MAX_DAYS = 400
# times the reports take: far enough from datetime's limits for every sum made of them
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)
NO_KEY = "(none)"
REPORT_WORK_MEM = "64MB"
TOTAL = object()  # the total row's key among the groups' keys


@dataclass(frozen=True)
class Window:
    """The calls counted: opened at or after `start` and before `end` (UTC)."""

    start: datetime
    end: datetime


def _refuse(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", errors=[{"field": field, "message": message}])


def _utc(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # an offset taking it past year 1 or 9999
        raise _refuse(field, "is out of range") from None
    if not EARLIEST <= value <= LATEST:
        raise _refuse(field, f"must be from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}")
    return value


def window(*, start: datetime | None, end: datetime | None, now: datetime) -> Window:
    """[from, to) in UTC (a time without an offset is UTC; a date is its midnight). By
    default `to` is the end of today and `from` 30 days before `to`. 422 naming the field
    outside 1970-9000; naming `from` when it is not before `to` or more than 400 days
    before it."""
    start, end = _utc(start, "from"), _utc(end, "to")
    if end is None:
        end = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(), UTC)
    if start is None:
        start = max(end - timedelta(days=DEFAULT_DAYS), EARLIEST)
    if start >= end:
        raise _refuse("from", "must be before to")
    if end - start > timedelta(days=MAX_DAYS):
        raise _refuse("from", f"the range may span at most {MAX_DAYS} days")
    return Window(start, end)


def grouping(group_by: GroupBy | None, period: Period | None) -> Period | None:
    """The period length of a report grouped by period (a day unless given); 422 naming
    `period` when it is given without group_by=period."""
    if period is not None and group_by != GroupBy.PERIOD:
        raise _refuse("period", "only with group_by=period")
    if group_by == GroupBy.PERIOD:
        return period or Period.DAY
    return None


def flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """1 where `condition` holds, else 0 (summed into counts)."""
    return case((condition, 1), else_=0)


def in_range(w: Window) -> list[ColumnElement[bool]]:
    """The calls of the window."""
    return [Call.opened_at >= w.start, Call.opened_at < w.end]


def first_call_id(session: Session, w: Window) -> int | None:
    """The lowest id among the window's calls (None: it has none): the rows hanging off
    them (escalations, events, article links) are read from that id on, so a report does
    not read the older history."""
    return session.scalar(select(func.min(Call.id)).where(*in_range(w)))


def _bytewise(text_key: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    # grouping compares for equality only: bytes sort faster than the locale's collation
    return text_key.collate("C") if dialect == sql.POSTGRESQL else text_key


def _group_key(
    group_by: GroupBy | None, period: Period | None, calls: Subquery, dialect: str
) -> ColumnElement[Any] | None:
    if group_by is None:
        return None
    if group_by == GroupBy.PERIOD:
        assert period is not None
        return sql.bucket(calls.c.opened_at, period, dialect)
    if group_by == GroupBy.MODEL:
        return _bytewise(Asset.manufacturer + " " + Asset.model, dialect)
    if group_by == GroupBy.MODALITY:
        return _bytewise(calls.c.modality, dialect)
    if group_by == GroupBy.SITE:
        return calls.c.site_id
    return calls.c.opened_by


def _per_call(
    w: Window,
    first_id: int,
    group_by: GroupBy | None,
    period: Period | None,
    resolution_minutes: Mapping[str, int],
    now: datetime,
    dialect: str,
) -> CTE:
    """One row per call of the window (whose lowest id is `first_id`): its group, what
    happened to it (0/1 flags) and its durations in milliseconds."""
    # the repeat-fault count looks back REPEAT_DAYS from each call: those calls are read too
    lookback = w.start - timedelta(days=REPEAT_DAYS)
    on_scanner = sql.repeat_window(Call.asset_id, Call.opened_at, REPEAT_DAYS, dialect)
    calls = (
        select(
            Call.id,
            Call.asset_id,
            Call.site_id,
            Call.modality,
            Call.opened_by,
            Call.urgency,
            Call.state,
            Call.opened_at,
            Call.resolved_at,
            Call.resolved_tier,
            Call.fixed_by_article_id,
            Call.resolution_missed_at,
            on_scanner.label("on_scanner"),
        )
        .where(Call.opened_at >= lookback, Call.opened_at < w.end)
        .subquery("recent")
    )
    response_due = or_(
        Escalation.accepted_at.is_not(None),
        Escalation.response_missed_at.is_not(None),
        and_(Escalation.status == EscalationStatus.PENDING, Escalation.due_at <= now),
    )
    esc = (
        select(
            Escalation.call_id,
            func.min(Escalation.created_at).label("first_at"),
            func.sum(flag(Escalation.accepted_at <= Escalation.due_at)).label("met"),
            func.sum(flag(response_due)).label("due"),
        )
        # the window's calls' ids are all from first_id: older escalations are not read
        .where(Escalation.call_id >= first_id)
        .group_by(Escalation.call_id)
        .subquery("esc")
    )
    # a resolved call was reopened when it was resolved before, or cancelled before
    resolved_twice = (
        select(CallEvent.call_id)
        .where(CallEvent.kind == EventKind.RESOLVED, CallEvent.call_id >= first_id)
        .group_by(CallEvent.call_id)
        .having(func.count() > 1)
    )
    cancelled = select(CallEvent.call_id).where(
        CallEvent.kind == EventKind.CANCELLED, CallEvent.call_id >= first_id
    )
    c = calls.c
    target = case(
        *((c.urgency == urgency, m) for urgency, m in resolution_minutes.items()),
        else_=null(),
    )
    resolution_due = sql.deadline(c.opened_at, target, dialect)
    resolved_at = sql.instant(c.resolved_at, dialect)
    resolved = c.resolved_at.is_not(None)
    tier1 = and_(resolved, c.resolved_tier == 1)
    escalated = esc.c.call_id.is_not(None)
    reopened = or_(c.id.in_(resolved_twice), c.id.in_(cancelled))
    missed = c.resolution_missed_at.is_not(None)
    repeat = and_(c.asset_id.is_not(None), c.on_scanner >= REPEAT_CALLS)
    key = _group_key(group_by, period, calls, dialect)
    columns: list[Any] = [] if key is None else [key.label("g")]
    rows = (
        select(
            *columns,
            c.asset_id,
            flag(resolved).label("resolved"),
            flag(tier1).label("tier1"),
            flag(and_(tier1, ~escalated, ~reopened)).label("fcr"),
            flag(escalated).label("escalated"),
            flag(and_(resolved, c.fixed_by_article_id.is_not(None))).label("kcs"),
            func.coalesce(esc.c.due, 0).label("resp_due"),
            func.coalesce(esc.c.met, 0).label("resp_met"),
            flag(
                or_(
                    resolved,
                    missed,
                    and_(c.state.in_(WORKED), resolution_due <= sql.now(now, dialect)),
                )
            ).label("res_due"),
            flag(and_(resolved, ~missed, resolved_at <= resolution_due)).label("res_met"),
            sql.duration_ms(c.resolved_at, c.opened_at, dialect).label("resolve_ms"),
            sql.duration_ms(esc.c.first_at, c.opened_at, dialect).label("escalate_ms"),
            flag(repeat).label("repeat"),
        )
        .select_from(calls)
        .outerjoin(esc, esc.c.call_id == c.id)
        .where(c.opened_at >= w.start)
    )
    if group_by == GroupBy.MODEL:
        rows = rows.outerjoin(Asset, Asset.id == c.asset_id)
    return rows.cte("per_call")


COUNTS = (
    ("calls_resolved", "resolved"),
    ("resolved_tier1", "tier1"),
    ("first_contact_resolved", "fcr"),
    ("calls_escalated", "escalated"),
    ("resolved_with_article", "kcs"),
    ("responses_due", "resp_due"),
    ("responses_met", "resp_met"),
    ("resolutions_due", "res_due"),
    ("resolutions_met", "res_met"),
    ("repeat_fault_calls", "repeat"),
)


def _aggregates(p: CTE, dialect: str) -> list[Any]:
    """Every count of a group of per-call rows (and PostgreSQL's medians)."""
    c = p.c
    out: list[Any] = [func.count().label("calls_opened")]
    out += [func.coalesce(func.sum(c[col]), 0).label(name) for name, col in COUNTS]
    out += [
        func.count(c.asset_id).label("calls_with_scanner"),
        func.count(distinct(c.asset_id)).label("scanners"),
        func.count(distinct(case((c.repeat == 1, c.asset_id)))).label("repeat_fault_scanners"),
    ]
    if dialect == sql.POSTGRESQL:
        out += [
            func.percentile_cont(0.5).within_group(c.resolve_ms).label("resolve_ms"),
            func.percentile_cont(0.5).within_group(c.escalate_ms).label("escalate_ms"),
        ]
    return out


def rate(part: int, whole: int) -> float | None:
    """part / whole to 4 decimals; None when whole is 0."""
    return round(part / whole, 4) if whole else None


def _minutes(value: Any) -> float | None:
    return None if value is None else round(float(value) / 60_000, 2)


def _figures(key: str | int | None, label: str, row: Mapping[str, Any] | None) -> DeskFigures:
    """A row of counts, with the rates they give."""
    n: dict[str, int] = {name: int((row or {}).get(name) or 0) for name, _ in COUNTS}
    for name in ("calls_opened", "calls_with_scanner", "scanners", "repeat_fault_scanners"):
        n[name] = int((row or {}).get(name) or 0)
    resolved = n["calls_resolved"]
    return DeskFigures(
        key=key,
        label=label,
        **n,
        tier1_resolution_rate=rate(n["resolved_tier1"], resolved),
        first_contact_resolution_rate=rate(n["first_contact_resolved"], resolved),
        escalation_rate=rate(n["calls_escalated"], n["calls_opened"]),
        kcs_link_rate=rate(n["resolved_with_article"], resolved),
        response_target_met_rate=rate(n["responses_met"], n["responses_due"]),
        resolution_target_met_rate=rate(n["resolutions_met"], n["resolutions_due"]),
        median_minutes_to_resolve=_minutes((row or {}).get("resolve_ms")),
        median_minutes_to_escalate=_minutes((row or {}).get("escalate_ms")),
        calls_per_scanner=rate(n["calls_with_scanner"], n["scanners"]),
    )


def _sqlite_medians(
    session: Session, p: CTE, grouped: bool, rows: dict[Any, dict[str, Any]]
) -> None:
    """Add the medians SQLite cannot aggregate to each group's row (the total's: `TOTAL`)."""
    for name in ("resolve_ms", "escalate_ms"):
        found: list[tuple[Any, Any]] = []
        if grouped:
            found += [tuple(r) for r in session.execute(sql.medians(p, p.c[name], p.c.g))]
        total = session.execute(sql.medians(p, p.c[name], None)).first()
        if total is not None:
            found.append((TOTAL, total[1]))
        for key, value in found:
            rows.setdefault(key, {})[name] = value


def sort_in_memory(session: Session) -> None:
    """On PostgreSQL, room for this transaction's sorts and hashes of a report's rows
    (some 15 MB a sort at 100,000 calls), which the default 4 MB spills to disk."""
    if session.get_bind().dialect.name == sql.POSTGRESQL:
        session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))


def _labels(session: Session, group_by: GroupBy | None, keys: Sequence[Any]) -> dict[Any, str]:
    """What people call each group key."""
    known = [k for k in keys if k is not None]
    if group_by == GroupBy.SITE and known:
        sites = session.execute(
            select(Site.id, Site.hospital, Site.department).where(Site.id.in_(known))
        )
        return {i: ", ".join(p for p in (h, d) if p) for i, h, d in sites}
    if group_by == GroupBy.DISPATCHER and known:
        people = session.execute(select(Person.id, Person.name).where(Person.id.in_(known)))
        return dict(people.tuples().all())
    return {k: str(k) for k in known}


def _label(labels: Mapping[Any, str], key: Any) -> str:
    if key is None:
        return NO_KEY
    return labels.get(key) or str(key)


def desk(
    *,
    session: Session,
    window: Window,
    group_by: GroupBy | None,
    period: Period | None,
    resolution_minutes: Mapping[str, int],
    now: datetime,
) -> DeskReport:
    """The desk's figures over the calls of `window`, per group and in total."""
    wait_for_records(session)
    dialect = session.get_bind().dialect.name
    rows: dict[Any, dict[str, Any]] = {}
    first_id = first_call_id(session, window)
    if first_id is not None:  # else no call: every count is 0
        sort_in_memory(session)
        p = _per_call(window, first_id, group_by, period, resolution_minutes, now, dialect)
        figures = _aggregates(p, dialect)
        total = [literal_column("1").label("is_total"), null().label("g"), *figures]
        statement: Any = select(*total).select_from(p)
        if group_by is not None:
            grouped = select(literal_column("0").label("is_total"), p.c.g, *figures)
            statement = union_all(grouped.group_by(p.c.g), statement)
        for row in session.execute(statement).mappings():
            if row["is_total"]:
                rows[TOTAL] = dict(row)
            else:
                key = row["g"] if period is None else sql.bucket_key(row["g"], period)
                rows[key] = dict(row)
        if dialect != sql.POSTGRESQL:
            _sqlite_medians(session, p, group_by is not None, rows)
    keys = [k for k in rows if k is not TOTAL]
    labels = _labels(session, group_by, keys)
    if period is not None:
        order: list[Any] = sql.buckets(window.start, window.end, period)
    else:
        order = sorted(keys, key=lambda k: (-rows[k]["calls_opened"], k is None, _label(labels, k)))
    return DeskReport(
        from_=window.start,
        to=window.end,
        group_by=group_by,
        period=period,
        generated_at=now,
        groups=[_figures(k, _label(labels, k), rows.get(k)) for k in order],
        total=_figures(None, "total", rows.get(TOTAL)),
    )
