"""The few expressions that SQLite and PostgreSQL write differently, each giving both the
same answer: times and durations, period buckets, a repeat-fault window and medians.

PostgreSQL compares its times as they are (to the microsecond, cheaply); SQLite's are
text, compared as milliseconds since 1970 (as SQLite reads a time: to the millisecond)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FromClause,
    Integer,
    Select,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import literal_column
from sqlalchemy.sql.visitors import InternalTraversal

from app.db import UTCDateTime
from app.reports.schemas import Period

POSTGRESQL = "postgresql"
# julianday of 1970-01-01 00:00 UTC: SQLite's day numbers turned into Unix time
UNIX_JULIANDAY = 2440587.5
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Column = ColumnElement[Any] | QueryableAttribute[Any]  # a table's column or any expression
DAY_MS = 86_400_000


def epoch_ms(value: Column) -> ColumnElement[Any]:
    """SQLite: milliseconds since 1970 (UTC), as SQLite reads a time."""
    return cast(func.round((func.julianday(value) - UNIX_JULIANDAY) * DAY_MS), BigInteger)


def instant(value: Column, dialect: str) -> ColumnElement[Any]:
    """A time, comparable with `deadline` and `now`."""
    return _expression(value) if dialect == POSTGRESQL else epoch_ms(value)


def deadline(start: Column, minutes: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """`minutes` after `start`, comparable with `instant`."""
    if dialect == POSTGRESQL:
        return start + minutes * literal_column("INTERVAL '1 minute'")
    return epoch_ms(start) + minutes * 60_000


def now(value: datetime, dialect: str) -> ColumnElement[Any]:
    """A time given by the caller, comparable with `instant`."""
    if dialect == POSTGRESQL:
        return literal(value, UTCDateTime)
    return literal(round((value - UNIX_EPOCH).total_seconds() * 1000), BigInteger)


def duration_ms(later: Column, earlier: Column, dialect: str) -> ColumnElement[Any]:
    """Milliseconds from `earlier` to `later` (null when either is)."""
    if dialect == POSTGRESQL:
        return func.date_part("epoch", later - earlier) * 1000
    return epoch_ms(later) - epoch_ms(earlier)


class _CallsBefore(ColumnElement[int]):
    """PostgreSQL's `count(*) OVER (PARTITION BY scanner ORDER BY opened RANGE BETWEEN
    INTERVAL 'n days' PRECEDING AND CURRENT ROW)`: ordered by the time itself (a plain
    sort, and exact to the microsecond), which SQLAlchemy's integer frames cannot say."""

    # the cache key holds what the SQL is made of, so statements differing in it do not
    # share a compiled form
    _traverse_internals = [  # noqa: RUF012 - as SQLAlchemy declares it
        ("partition", InternalTraversal.dp_clauseelement),
        ("order", InternalTraversal.dp_clauseelement),
        ("days", InternalTraversal.dp_plain_obj),
    ]
    inherit_cache = True
    type = Integer()

    def __init__(self, partition: ColumnElement[Any], order: ColumnElement[Any], days: int):
        self.partition, self.order, self.days = partition, order, days


@compiles(_CallsBefore)
def _calls_before(element: _CallsBefore, compiler: SQLCompiler, **kw: Any) -> str:
    partition = compiler.process(element.partition, **kw)
    order = compiler.process(element.order, **kw)
    # hours, not days: a day is 23 or 25 hours across a DST change in the session's zone
    hours = int(element.days) * 24
    frame = f"RANGE BETWEEN INTERVAL '{hours} hours' PRECEDING AND CURRENT ROW"
    return f"count(*) OVER (PARTITION BY {partition} ORDER BY {order} {frame})"


def _expression(column: Column) -> ColumnElement[Any]:
    return column.expression if isinstance(column, QueryableAttribute) else column


def repeat_window(
    asset_id: Column, opened_at: Column, days: int, dialect: str
) -> ColumnElement[Any]:
    """How many calls its scanner had in the `days` up to each call's opening, the call
    and those opened at the same instant included (`calls.history.repeat_fault`)."""
    if dialect == POSTGRESQL:
        return _CallsBefore(_expression(asset_id), _expression(opened_at), days)
    # SQLite's frames take numbers: the time in milliseconds
    order = epoch_ms(opened_at)
    return func.count().over(partition_by=asset_id, order_by=order, range_=(-days * DAY_MS, 0))


def bucket(opened_at: Column, period: Period, dialect: str) -> ColumnElement[Any]:
    """The period a time falls in (UTC; weeks start on Monday): on PostgreSQL its first
    instant (a timestamp sorts and groups faster than text), on SQLite its `bucket_of`
    text; `bucket_key` makes either the key."""
    if dialect == POSTGRESQL:
        return func.date_trunc(str(period), func.timezone("UTC", opened_at))
    if period == Period.MONTH:
        return func.strftime("%Y-%m", opened_at)
    if period == Period.WEEK:
        # the Monday on or before: back 6 days, then forward to the next Monday
        return func.date(opened_at, "-6 days", "weekday 1")
    return func.date(opened_at)


def bucket_key(value: Any, period: Period) -> str:
    """A `bucket` as its key: its first day (YYYY-MM-DD), or YYYY-MM for a month."""
    return bucket_of(value.date(), period) if isinstance(value, datetime) else str(value)


def bucket_of(day: date, period: Period) -> str:
    """The key of the period holding `day`."""
    if period == Period.MONTH:
        return f"{day.year:04d}-{day.month:02d}"
    if period == Period.WEEK:
        day -= timedelta(days=day.weekday())
    return day.isoformat()


def buckets(start: datetime, end: datetime, period: Period) -> list[str]:
    """Every bucket that [start, end) touches, in order."""
    out: list[str] = []
    day, last = start.date(), (end - timedelta(microseconds=1)).date()
    while day <= last:
        key = bucket_of(day, period)
        if not out or out[-1] != key:
            out.append(key)
        day += timedelta(days=1)
    return out


def medians(
    source: FromClause, value: ColumnElement[Any], group: ColumnElement[Any] | None
) -> Select[Any]:
    """(group, median of `value`) for each group of `source`'s rows (one row, group 0,
    without `group`): the middle value, or the mean of the middle two, nulls left out.
    For SQLite, which has no percentile_cont; the same numbers as PostgreSQL's."""
    key = group if group is not None else literal_column("0")
    over: dict[str, Any] = {"partition_by": group} if group is not None else {}
    ranked = (
        select(
            key.label("g"),
            value.label("v"),
            func.row_number().over(order_by=value, **over).label("rn"),
            func.count().over(**over).label("n"),
        )
        .select_from(source)
        .where(value.is_not(None))
        .subquery("ranked")
    )
    middle = (ranked.c.rn * 2 >= ranked.c.n) & (ranked.c.rn * 2 <= ranked.c.n + 2)
    return select(ranked.c.g, func.avg(ranked.c.v)).where(middle).group_by(ranked.c.g)
