"""The desk's dashboard: its figures over a date range as charts, each chart's figures in a
table too, with the key figures and the articles most shown on calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.auth.permissions import P
from app.db import utcnow
from app.deps import Route
from app.errors import InvalidInput
from app.reports import articles, service
from app.reports.schemas import ArticleSort, DeskFigures, GroupBy, Period
from app.web.article_form import MODALITY_NAMES
from app.web.deps import Console, console
from app.web.render import field_errors, page

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=Route)
Reader = Annotated[Console, console(P.REPORTS_READ)]

TOP_ARTICLES = 10
# the days a form may name: those the reports count (service.EARLIEST to LATEST)
FIRST_DAY, LAST_DAY = service.EARLIEST.date(), service.LATEST.date() - timedelta(days=1)
NO_RESOLVED = "no resolved calls yet"
PERIOD_NAMES = {Period.DAY: "Day", Period.WEEK: "Week starting", Period.MONTH: "Month"}


@dataclass(frozen=True)
class Choice:
    """What the form asks for: the first and the last day shown, and the period."""

    first: str
    last: str
    period: str


@dataclass(frozen=True)
class Figure:
    """One line of the key figures: what it is, its value and what it is made of."""

    key: str
    name: str
    value: str
    basis: str


def percent(value: float | None) -> float | None:
    """A rate as a percentage to one decimal (null stays null), for the charts."""
    return None if value is None else round(value * 100, 1)


def shown_rate(value: float | None) -> str:
    """A rate for people: 80%, 28.6%; `none` when nothing was there to count."""
    if value is None:
        return "none"
    return f"{value * 100:.1f}".removesuffix(".0") + "%"


def shown_minutes(value: float | None) -> str:
    """A duration for people: 45 min, 12 h 5 min, 2 d 3 h."""
    if value is None:
        return "none"
    if 0 < value < 1:
        return "under 1 min"
    minutes = round(value)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h" + (f" {rest} min" if rest else "")
    days, hours = divmod(hours, 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


def _of(part: int, whole: int, what: str, none: str) -> str:
    """`4 of 5 resolved calls, at tier 1`; `none` when there is nothing to count."""
    return f"{part} of {whole} {what}" if whole else none


def key_figures(t: DeskFigures) -> list[Figure]:
    """The figures a desk is judged by, each with the counts behind it."""
    rates = [
        # (the rate's field, its name, part, whole, what they count, said when whole is 0)
        ("tier1_resolution_rate", "Tier-1 resolution rate", t.resolved_tier1,
         t.calls_resolved, "resolved calls, at tier 1", NO_RESOLVED),
        ("first_contact_resolution_rate", "First-contact resolution", t.first_contact_resolved,
         t.calls_resolved, "resolved calls, never escalated or reopened", NO_RESOLVED),
        ("escalation_rate", "Escalation rate", t.calls_escalated,
         t.calls_opened, "calls escalated", "no calls"),
        ("kcs_link_rate", "KCS link rate", t.resolved_with_article,
         t.calls_resolved, "resolved calls name the article", NO_RESOLVED),
        ("response_target_met_rate", "Response target met", t.responses_met,
         t.responses_due, "escalations accepted in time", "no response due yet"),
        ("resolution_target_met_rate", "Resolution target met", t.resolutions_met,
         t.resolutions_due, "calls resolved in time", "no resolution due yet"),
    ]  # fmt: skip
    return [
        Figure("calls_opened", "Calls opened", str(t.calls_opened), f"{t.calls_resolved} resolved"),
        *(
            Figure(key, name, shown_rate(getattr(t, key)), _of(part, whole, what, none))
            for key, name, part, whole, what, none in rates
        ),
        Figure(
            "median_minutes_to_resolve",
            "Median time to resolve",
            shown_minutes(t.median_minutes_to_resolve),
            "from opening to resolution",
        ),
        Figure(
            "median_minutes_to_escalate",
            "Median time to escalate",
            shown_minutes(t.median_minutes_to_escalate),
            "from opening to the first escalation",
        ),
    ]


def period_labels(keys: list[str], period: Period) -> tuple[list[str], list[str]]:
    """(short labels for a chart's axis, whole ones for its table) of the period keys
    (YYYY-MM-DD of a day or a week's Monday, YYYY-MM of a month); the year is on the axis
    only when the range spans more than one."""
    if period == Period.MONTH:
        months = [date.fromisoformat(f"{k}-01") for k in keys]
        return [f"{m:%b %Y}" for m in months], [f"{m:%B %Y}" for m in months]
    days = [date.fromisoformat(k) for k in keys]
    several_years = len({d.year for d in days}) > 1
    axis = [f"{d.day} {d:%b}" + (f" {d:%Y}" if several_years else "") for d in days]
    whole = [f"{d:%a} {d.day} {d:%b %Y}" for d in days]
    return axis, whole


def modality_name(key: str | int | None) -> str:
    """A modality for people; calls without one are `not recorded`."""
    if key is None:
        return "Not recorded"
    return MODALITY_NAMES.get(str(key), str(key))


def _day(value: str, field: str, errors: dict[str, str]) -> date | None:
    """A date field of the form (None when empty or wrong; wrong ones are in `errors`)."""
    if not value.strip():
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        errors[field] = "enter a date as YYYY-MM-DD"
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        errors[field] = f"must be from {FIRST_DAY} to {LAST_DAY}"
        return None
    return day


def _window(
    first_text: str, last_text: str, period_text: str, now: datetime
) -> tuple[Choice, service.Window | None, Period, dict[str, str]]:
    """The form's choice read: the window counted (None when a field is wrong, each wrong
    field with its message). By default the last 30 days, today included, per day."""
    errors: dict[str, str] = {}
    first, last = _day(first_text, "from", errors), _day(last_text, "to", errors)
    period = Period.DAY
    if period_text in set(Period):
        period = Period(period_text)
    elif period_text:
        errors["period"] = "choose day, week or month"
    if errors:
        return Choice(first_text, last_text, period_text), None, period, errors
    span = timedelta(days=service.DEFAULT_DAYS - 1)
    if last is None:
        last = min(first + span, LAST_DAY) if first else now.astimezone(UTC).date()
    first = first or max(last - span, FIRST_DAY)
    choice = Choice(first.isoformat(), last.isoformat(), period.value)
    if first > last:
        return choice, None, period, {"from": "must be on or before the last day"}
    try:
        # the last day is counted whole: the window ends at the next midnight
        window = service.window(
            start=datetime.combine(first, time(), UTC),
            end=datetime.combine(last + timedelta(days=1), time(), UTC),
            now=now,
        )
    except InvalidInput as exc:  # a range over 400 days
        return choice, None, period, field_errors(exc)
    return choice, window, period, errors


def _charts(trend: list[DeskFigures], modalities: list[DeskFigures], period: Period) -> Any:
    """What the charts draw, as the page's JSON data island carries it."""
    axis, _ = period_labels([str(g.key) for g in trend], period)
    return {
        "period": period.value,
        "trend": {
            "labels": axis,
            "calls": [g.calls_opened for g in trend],
            "tier1": [percent(g.tier1_resolution_rate) for g in trend],
        },
        "modality": {
            "labels": [modality_name(g.key) for g in modalities],
            "calls": [g.calls_opened for g in modalities],
            "escalation": [percent(g.escalation_rate) for g in modalities],
        },
    }


@router.get("/dashboard")
def dashboard(
    ui: Reader,
    first: Annotated[str, Query(alias="from", max_length=40)] = "",
    last: Annotated[str, Query(alias="to", max_length=40)] = "",
    period: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The desk's figures from the first to the last day chosen (both included): the
    trend per period, the split by modality, the key figures and the top articles."""
    now = utcnow()
    choice, window, length, errors = _window(first, last, period, now)
    context: dict[str, Any] = {"choice": choice, "errors": errors, "periods": list(Period)}
    if window is None:
        return page(
            ui.request,
            "reports/dashboard.html",
            ui.signed,
            status=422,
            section="dashboard",
            title="Error: Dashboard",
            **context,
        )
    targets = ui.settings.resolution_target_minutes
    trend, modalities = (
        service.desk(
            session=ui.session,
            window=window,
            group_by=group_by,
            period=by_period,
            resolution_minutes=targets,
            now=now,
        )
        for group_by, by_period in ((GroupBy.PERIOD, length), (GroupBy.MODALITY, None))
    )
    top = articles.report(
        session=ui.session, window=window, sort=ArticleSort.SHOWN, limit=TOP_ARTICLES, offset=0
    )
    _, whole = period_labels([str(g.key) for g in trend.groups], length)
    return page(
        ui.request,
        "reports/dashboard.html",
        ui.signed,
        section="dashboard",
        title="Dashboard",
        total=trend.total,
        figures=key_figures(trend.total),
        trend=list(zip(whole, trend.groups, strict=True)),
        period_name=PERIOD_NAMES[length],
        modalities=[(modality_name(g.key), g) for g in modalities.groups],
        top=top,
        charts=_charts(trend.groups, modalities.groups, length),
        rate=shown_rate,
        minutes=shown_minutes,
        **context,
    )
