"""The reports as JSON or CSV, whichever the client's Accept header ranks higher."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from fastapi.responses import Response
from pydantic import BaseModel

from app.reports.schemas import (
    ArticleFigures,
    ArticleReport,
    DeskFigures,
    DeskReport,
    GapGroup,
    GapReport,
)

R = TypeVar("R", bound=BaseModel)

CSV = "text/csv"
JSON = "application/json"
# a spreadsheet runs a cell starting with one of these as a formula
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _ranges(accept: str) -> list[tuple[str, float]]:
    """(media range, q) of each entry of an Accept header."""
    out = []
    for entry in accept.split(","):
        media, *params = (part.strip() for part in entry.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            out.append((media.lower(), q))
    return out


def _quality(ranges: Sequence[tuple[str, float]], media_type: str) -> tuple[float, int]:
    """(q, how specific the range that gave it is) of a media type; the most specific
    matching range decides (RFC 9110, 12.5.1)."""
    kind = media_type.split("/")[0]
    best: tuple[int, float] | None = None
    for media, q in ranges:
        specific = {media_type: 3, f"{kind}/*": 2, "*/*": 1}.get(media)
        if specific is not None and (best is None or specific > best[0]):
            best = (specific, q)
    return (best[1], best[0]) if best else (0.0, 0)


def prefers_csv(accept: str | None) -> bool:
    """Whether the Accept header ranks text/csv above JSON: a higher q, or the same q
    from a more specific range (`text/csv, */*`); otherwise JSON."""
    if not accept:
        return False
    ranges = _ranges(accept)
    csv_q, json_q = _quality(ranges, CSV), _quality(ranges, JSON)
    return csv_q[0] > 0 and csv_q > json_q


def negotiate(
    report: R, *, accept: str | None, response: Response, as_csv: Callable[[R], Response]
) -> R | Response:
    """The report as CSV when Accept prefers text/csv, else as JSON; either answer says
    it depends on Accept (`Vary`), so a cache keeps the two apart."""
    if prefers_csv(accept):
        answer = as_csv(report)
        answer.headers["Vary"] = "Accept"
        return answer
    response.headers["Vary"] = "Accept"
    return report


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):  # one item a line: phrasings may hold any punctuation
        value = "\n".join(str(item) for item in value)
    if isinstance(value, datetime):
        value = value.isoformat().replace("+00:00", "Z")  # as the JSON writes it
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value  # shown as text, never run
    return str(value)


def _table(columns: Sequence[str], rows: Iterable[BaseModel]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(getattr(row, name)) for name in columns])
    return out.getvalue()


def _response(body: str, filename: str) -> Response:
    return Response(
        body,
        media_type=f"{CSV}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _span(start: datetime, end: datetime) -> str:
    return f"{start:%Y%m%d}-{end:%Y%m%d}"


DESK_COLUMNS = tuple(DeskFigures.model_fields)
ARTICLE_COLUMNS = tuple(ArticleFigures.model_fields)
GAP_COLUMNS = tuple(GapGroup.model_fields)


def desk_csv(report: DeskReport) -> Response:
    """One row per group, then the total (label `total`), under a header row of the
    JSON rows' field names; an empty cell is null."""
    grouped = f"-{report.group_by}" + (f"-{report.period}" if report.period else "")
    name = f"desk-{_span(report.from_, report.to)}{grouped if report.group_by else ''}.csv"
    return _response(_table(DESK_COLUMNS, [*report.groups, report.total]), name)


def articles_csv(report: ArticleReport) -> Response:
    """One row per article of the page, under a header row of the JSON fields' names."""
    name = f"articles-{_span(report.from_, report.to)}-{report.sort}-{report.offset}.csv"
    return _response(_table(ARTICLE_COLUMNS, report.articles), name)


def gaps_csv(report: GapReport, today: datetime) -> Response:
    """One row per group returned, under a header row of the JSON fields' names; a
    list's items one a line in their cell."""
    return _response(_table(GAP_COLUMNS, report.groups), f"gaps-{today:%Y%m%d}.csv")
