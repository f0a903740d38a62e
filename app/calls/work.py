"""Work on a call at tier 1: search with the scanner's filters, articles opened and tried,
notes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.articles import service as article_service
from app.articles.models import Article
from app.assets.models import Asset
from app.auth.permissions import P
from app.auth.service import Principal
from app.calls.models import (
    FAILED_OUTCOMES,
    AttemptOutcome,
    Call,
    CallArticle,
    CallEvent,
    EventKind,
    OwnerKind,
)
from app.calls.schemas import ArticleAttemptCreate, CallHit, CallSearch, CallSearchResult
from app.calls.service import add_event, get, link, owner_interval
from app.db import urgent_writes, utcnow
from app.errors import Forbidden, InvalidInput
from app.learning import service as learning
from app.search import service as search_service
from app.search.index import ArticleIndex, Scanner
from app.search.schemas import SearchFilters, SearchRequest, SearchResponse
from app.search.service import SearchLimits


def _filters(
    session: Session, index: ArticleIndex, call: Call, data: CallSearch
) -> tuple[dict[str, str], dict[str, str]]:
    """The filters to search with, and the scanner's values left out because no article
    carries them (they would filter everything away)."""
    if data.filters is not None:
        return data.filters.model_dump(exclude_none=True, mode="json"), {}
    if not data.use_asset_filters:
        return {}, {}
    asset = session.get(Asset, call.asset_id) if call.asset_id else None
    wanted = {"modality": call.modality}
    if asset is not None:
        wanted |= {"manufacturer": asset.manufacturer, "model": asset.model}
    filters: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name, value in wanted.items():
        if not value:
            continue
        if name == "modality" or index.has_value(name, value):
            filters[name] = value
        else:
            skipped[name] = value
    return filters, skipped


def _scanner(session: Session, call: Call) -> Scanner:
    """The call's scanner, where its articles' records on past calls count most."""
    asset = session.get(Asset, call.asset_id) if call.asset_id else None
    if asset is None:
        return Scanner(call.modality)
    return Scanner(asset.modality, asset.manufacturer, asset.model)


def _ranked(
    response: SearchResponse, tried: dict[int, AttemptOutcome], limit: int
) -> list[CallHit]:
    """Untried and fixing articles first (at most `limit`), then those that failed."""
    fresh: list[CallHit] = []
    demoted: list[CallHit] = []
    for hit in response.results:
        failed = tried.get(hit.id) in FAILED_OUTCOMES
        row = CallHit(**hit.model_dump(), tried_outcome=tried.get(hit.id), demoted=failed)
        (demoted if failed else fresh).append(row)
    results = fresh[:limit] + demoted
    for rank, row in enumerate(results, start=1):
        row.rank = rank
    return results


def search(
    *,
    session: Session,
    index: ArticleIndex,
    call_id: int,
    data: CallSearch,
    principal: Principal,
    limits: SearchLimits,
    record: bool = True,
) -> CallSearchResult:
    """Search with the scanner's filters; articles that failed on this call go last.

    `record=False` (results shown while the dispatcher is still typing) leaves the
    timeline and the suggestion counts alone."""
    call = get(session=session, call_id=call_id)
    filters, skipped = _filters(session, index, call, data)
    query = (data.query or call.symptom or "").strip()
    if not query:
        raise InvalidInput(
            "nothing to search: the call has no symptom yet",
            errors=[{"field": "query", "message": "type a symptom"}],
        )
    links = session.scalars(select(CallArticle).where(CallArticle.call_id == call.id)).all()
    tried = {x.article_id: AttemptOutcome(x.outcome) for x in links if x.outcome}
    failed = sum(1 for outcome in tried.values() if outcome in FAILED_OUTCOMES)
    limit = data.limit or limits.default_limit
    request = SearchRequest(
        query=query,
        filters=SearchFilters(**filters),
        limit=min(limit + failed, limits.max_limit),
    )
    response = search_service.search(
        session=session,
        index=index,
        request=request,
        limits=limits,
        scanner=_scanner(session, call),
    )
    ranked = _ranked(response, tried, limit)
    # what is left to try decides: strong hits that failed here no longer count
    left = [hit.confidence for hit in ranked if not hit.demoted]
    result = CallSearchResult(
        query=query,
        filters=filters,
        skipped_filters=skipped,
        expanded_with=response.expanded_with,
        corrected=response.corrected,
        match=index.match(max(left, default=None)),
        results=ranked,
    )
    if record:
        _record(session, call, result, principal)
    return result


def record_search(
    *, session: Session, call_id: int, result: CallSearchResult, principal: Principal
) -> None:
    """An answered search's record, written after its answer (`app/later.py`)."""
    call = session.get(Call, call_id)
    if call is not None:
        _record(session, call, result, principal)


def _record(
    session: Session,
    call: Call,
    result: CallSearchResult,
    principal: Principal,
    **marks: str,
) -> CallEvent:
    """The search on the timeline, with what it showed; each shown article counted
    (`marks`: extra data on the event, e.g. via="live"). On SQLite it takes the writer's
    next turn: a dispatcher on a live call waits for it, or the call's next request does."""
    with urgent_writes():
        return _write_record(session, call, result, principal, **marks)


def _write_record(
    session: Session, call: Call, result: CallSearchResult, principal: Principal, **marks: str
) -> CallEvent:
    """The record's rows: the counts and the timeline entry."""
    for row in result.results:
        # counted in the database: searches on one call at once each add theirs
        link(session, call.id, row.id).suggested = CallArticle.suggested + 1
    shown = [
        {
            "rank": r.rank,
            "article_id": r.id,
            "slug": r.slug,
            "title": r.title,
            "score": r.score,
            "confidence": r.confidence,
            "tried_outcome": r.tried_outcome,
        }
        for r in result.results
    ]
    event = add_event(
        session,
        call,
        EventKind.SEARCHED,
        principal,
        query=result.query,
        filters=result.filters,
        skipped_filters=result.skipped_filters,
        results=shown,
        match=result.match,
        **marks,
    )
    session.flush()
    return event


def _last_search_event(session: Session, call_id: int) -> CallEvent | None:
    """The call's latest recorded search event, if any."""
    return session.scalars(
        select(CallEvent)
        .where(CallEvent.call_id == call_id, CallEvent.kind == EventKind.SEARCHED)
        .order_by(CallEvent.id.desc())
        .limit(1)
    ).first()


def last_search(*, session: Session, call_id: int) -> str | None:
    """The query of the call's latest recorded search, if any."""
    event = _last_search_event(session, call_id)
    return str(event.data.get("query", "")) if event is not None else None


def record_shown(
    *,
    session: Session,
    index: ArticleIndex,
    call_id: int,
    query: str,
    principal: Principal,
    limits: SearchLimits,
) -> CallEvent | None:
    """A live search whose results the dispatcher saw counts as a search: recorded with
    via="live", unless the query is blank or repeats the latest search (query and filters)."""
    if not query.strip():
        return None  # a blank box would search the symptom, which was not shown
    result = search(
        session=session,
        index=index,
        call_id=call_id,
        data=CallSearch(query=query.strip()),
        principal=principal,
        limits=limits,
        record=False,
    )
    last = _last_search_event(session, call_id)
    if last is not None and (last.data.get("query"), last.data.get("filters")) == (
        result.query,
        result.filters,
    ):
        return None
    return _record(session, get(session=session, call_id=call_id), result, principal, via="live")


def open_article(
    *, session: Session, call_id: int, article_id: int, principal: Principal
) -> Article:
    """Record that the dispatcher opened an article on this call."""
    call = get(session=session, call_id=call_id)
    article = article_service.get(session=session, ref=article_id)
    link(session, call.id, article.id).opened = True
    add_event(
        session,
        call,
        EventKind.ARTICLE_OPENED,
        principal,
        article_id=article.id,
        slug=article.slug,
        title=article.title,
        version=article.version,
    )
    session.flush()
    return article


def record_attempt(
    *, session: Session, call_id: int, data: ArticleAttemptCreate, principal: Principal
) -> CallEvent:
    """Record the outcome of trying an article (or one of its steps)."""
    call = get(session=session, call_id=call_id)
    article = article_service.get(session=session, ref=data.article_id)
    if data.step is not None and data.step > len(article.steps):
        raise InvalidInput(
            f"article {article.slug} has {len(article.steps)} steps",
            errors=[{"field": "step", "message": f"at most {len(article.steps)}"}],
        )
    tried = link(session, call.id, article.id)
    tried.opened = True
    tried.outcome = data.outcome
    # one vote per call and article: a later outcome replaces the earlier one
    tried.outcome_at = utcnow()
    tried.outcome_by = principal.person_id
    learning.changed(session=session, article_id=article.id)
    event = add_event(
        session,
        call,
        EventKind.STEP_TRIED,
        principal,
        article_id=article.id,
        slug=article.slug,
        title=article.title,
        step=data.step,
        outcome=data.outcome,
        note=data.note,
    )
    session.flush()
    return event


def check_may_write(session: Session, call: Call, principal: Principal, doing: str) -> None:
    """Who works calls (calls:work) may write on any call; who notes calls (calls:note, a
    field engineer), on calls of a scanner they look after (primary or backup) or a call
    they own. `doing` names the write in the refusal."""
    if principal.can(P.CALLS_WORK):
        return
    asset = session.get(Asset, call.asset_id) if call.asset_id else None
    carers = {asset.primary_engineer_id, asset.backup_engineer_id} if asset else set()
    owner = owner_interval(session, call.id, OwnerKind.CURRENT)
    allowed = carers | {owner.person_id if owner else None}
    me = principal.person_id
    if me is None or not principal.can(P.CALLS_NOTE) or me not in allowed:
        raise Forbidden(
            f"call {call.id} is not on a scanner you look after: only those working it, the "
            f"scanner's engineers and its owner {doing}"
        )


def add_note(*, session: Session, call_id: int, text: str, principal: Principal) -> CallEvent:
    """Add a note to the timeline."""
    call = get(session=session, call_id=call_id)
    check_may_write(session, call, principal, "add notes")
    event = add_event(session, call, EventKind.NOTE, principal, text=text)
    session.flush()
    return event


# -- the timeline as people read it ---------------------------------------------------

# what one user action writes beside its own entry (a state move, a new owner, the search
# acted on, the visits and actions called off with the call): shown folded into that entry
FOLDS: dict[str, frozenset[str]] = {
    EventKind.OPENED: frozenset({EventKind.OWNER_CHANGED}),
    EventKind.CANCELLED: frozenset(
        {EventKind.STATE_CHANGED, EventKind.WORK_ORDER, EventKind.ACTION}
    ),
    EventKind.RESOLVED: frozenset(
        {EventKind.STATE_CHANGED, EventKind.OWNER_CHANGED, EventKind.WORK_ORDER}
    ),
    EventKind.ESCALATED: frozenset({EventKind.STATE_CHANGED, EventKind.OWNER_CHANGED}),
    EventKind.ACCEPTED: frozenset({EventKind.STATE_CHANGED, EventKind.OWNER_CHANGED}),
    EventKind.DECLINED: frozenset({EventKind.STATE_CHANGED, EventKind.OWNER_CHANGED}),
    EventKind.STEP_TRIED: frozenset({EventKind.SEARCHED}),
    EventKind.WORK_ORDER: frozenset({EventKind.STATE_CHANGED, EventKind.OWNER_CHANGED}),
    EventKind.STATE_CHANGED: frozenset({EventKind.OWNER_CHANGED}),
}
BURST = timedelta(seconds=2)  # entries by one person this close together are one action


@dataclass
class TimelineEntry:
    """One line of the timeline: the entry a person acted for, and what came with it."""

    event: CallEvent
    folded: list[CallEvent] = field(default_factory=list)

    def part(self, kind: str) -> CallEvent | None:
        """The folded entry of a kind, if any."""
        return next((e for e in self.folded if e.kind == kind), None)

    def count(self, kind: str) -> int:
        """How many folded entries are of a kind."""
        return sum(1 for e in self.folded if e.kind == kind)


def _bursts(events: Sequence[CallEvent]) -> list[list[CallEvent]]:
    """Consecutive entries by the same person, each within BURST of the one before."""
    bursts: list[list[CallEvent]] = []
    for event in events:
        last = bursts[-1][-1] if bursts else None
        if (
            last is not None
            and (last.actor_id, last.actor_name) == (event.actor_id, event.actor_name)
            and event.at - last.at <= BURST
        ):
            bursts[-1].append(event)
        else:
            bursts.append([event])
    return bursts


def timeline_entries(events: Sequence[CallEvent]) -> list[TimelineEntry]:
    """The timeline with one line per action (oldest first): the entries an action writes
    beside its own, next to it, are folded into it; the API keeps every entry."""
    entries: list[TimelineEntry] = []
    rank = list(FOLDS)
    for burst in _bursts(events):
        owner: dict[int, int] = {}  # folded entry's index -> its lead's index
        leads = sorted(
            (i for i, e in enumerate(burst) if e.kind in FOLDS),
            key=lambda i: (rank.index(burst[i].kind), i),
        )
        for lead in leads:
            if lead in owner:
                continue
            for step in (-1, 1):  # its neighbours on either side, while they belong to it
                i = lead + step
                while 0 <= i < len(burst) and _belongs(burst[i], burst[lead], step):
                    if i in owner or i in owner.values():
                        break
                    owner[i] = lead
                    i += step
        lines = {i: TimelineEntry(e) for i, e in enumerate(burst) if i not in owner}
        for i, event in enumerate(burst):
            if i in owner:
                lines[owner[i]].folded.append(event)
        entries.extend(lines.values())
    return entries


def _belongs(event: CallEvent, lead: CallEvent, step: int) -> bool:
    """Whether `event`, beside `lead` (before it: step -1), was written by the same action;
    the search acted on comes before the outcome, a later one is a search of its own."""
    return event.kind in FOLDS[lead.kind] and (event.kind != EventKind.SEARCHED or step < 0)
