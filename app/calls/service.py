"""Calls: opening, the timeline, ownership, in-call search, escalation, tier 2, closing."""

from __future__ import annotations

import builtins
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.articles import service as article_service
from app.articles.models import Article
from app.articles.schemas import ArticleCreate, Step
from app.assets import service as asset_service
from app.assets.models import Asset, Site
from app.auth.models import Person
from app.auth.permissions import Role
from app.auth.service import Principal
from app.calls.models import (
    URGENCY_RANK,
    Call,
    CallArticle,
    CallEvent,
    CallState,
    Escalation,
    EventKind,
    Outcome,
    OwnerKind,
    Ownership,
    Urgency,
)
from app.calls.package import build_package, error_codes_in
from app.calls.schemas import (
    ArticleStats,
    AttemptCreate,
    CallCreate,
    CallHit,
    CallSearch,
    CallSearchResult,
    EscalateRequest,
    EscalationPackage,
    QueueItem,
    ResolveRequest,
)
from app.db import utcnow
from app.errors import Conflict, InvalidInput, NotFound
from app.search import service as search_service
from app.search.index import ArticleIndex
from app.search.schemas import SearchFilters, SearchRequest
from app.search.service import SearchLimits
from app.webhooks import service as webhook_service
from app.webhooks.models import EventType

S = CallState
TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    S.OPEN: frozenset({S.RESOLVED, S.ESCALATED}),
    S.ESCALATED: frozenset({S.ACCEPTED}),
    S.ACCEPTED: frozenset({S.RESOLVED}),
    S.RESOLVED: frozenset({S.CLOSED, S.OPEN}),
    S.CLOSED: frozenset({S.OPEN}),
}
FAILED = {Outcome.NO_CHANGE, Outcome.COULD_NOT_DO, Outcome.MADE_WORSE}


# -- helpers ---------------------------------------------------------------------------


def _person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no person with id {person_id}")
    return person


def _acting_person(session: Session, principal: Principal) -> Person:
    """Call work is done by people: an integration client must name one."""
    if principal.person_id is None:
        raise InvalidInput(
            "this action needs a person's key (integration clients cannot own calls)",
            errors=[{"field": "key", "message": "use a person's API key"}],
        )
    return _person(session, principal.person_id)


def _event(
    session: Session, call: Call, kind: EventKind, principal: Principal, **data: Any
) -> CallEvent:
    event = CallEvent(
        call_id=call.id,
        kind=kind,
        actor_id=principal.person_id,
        actor_name=principal.name,
        at=utcnow(),
        data=data,
    )
    session.add(event)
    return event


def _commit(session: Session, call: Call) -> None:
    try:
        session.commit()
    except StaleDataError as exc:
        session.rollback()
        raise Conflict(f"call {call.id} was changed by someone else meanwhile; reload") from exc


def _owner_interval(session: Session, call_id: int, kind: OwnerKind) -> Ownership | None:
    return session.scalars(
        select(Ownership).where(
            Ownership.call_id == call_id, Ownership.kind == kind, Ownership.ended_at.is_(None)
        )
    ).first()


def _set_owner(
    session: Session,
    call: Call,
    kind: OwnerKind,
    person: Person,
    role: str,
    reason: str,
    principal: Principal,
) -> None:
    now = utcnow()
    current = _owner_interval(session, call.id, kind)
    if current is not None:
        if current.person_id == person.id:
            return
        current.ended_at = now
    session.add(
        Ownership(
            call_id=call.id,
            kind=kind,
            person_id=person.id,
            role=role,
            started_at=now,
            reason=reason,
        )
    )
    _event(
        session,
        call,
        EventKind.OWNER_CHANGED,
        principal,
        owner_kind=str(kind),
        person_id=person.id,
        person_name=person.name,
        reason=reason,
        previous_person_id=current.person_id if current else None,
    )


def _move(session: Session, call: Call, target: CallState, principal: Principal, why: str) -> None:
    current = CallState(call.state)
    allowed = TRANSITIONS[current]
    if target not in allowed:
        raise Conflict(
            f"call {call.id} is {current}; it cannot become {target}",
            current_state=current,
            allowed=sorted(allowed),
        )
    call.state = target
    _event(
        session,
        call,
        EventKind.STATE_CHANGED,
        principal,
        **{"from": current, "to": target, "reason": why},
    )


def _link(session: Session, call_id: int, article_id: int) -> CallArticle:
    link = session.get(CallArticle, (call_id, article_id))
    if link is None:
        link = CallArticle(call_id=call_id, article_id=article_id, suggested=0, opened=False)
        session.add(link)
    return link


def _call_payload(call: Call) -> dict[str, Any]:
    return {
        "call_id": call.id,
        "state": call.state,
        "urgency": call.urgency,
        "patient_impact": call.patient_impact,
        "asset_id": call.asset_id,
        "site_id": call.site_id,
        "symptom": call.symptom,
    }


# -- calls -----------------------------------------------------------------------------


def open_call(*, session: Session, data: CallCreate, principal: Principal) -> Call:
    """Open a call; the opener (or `owner_id`) owns it, the scanner's primary engineer
    follows up."""
    owner_id = data.owner_id or principal.person_id
    if owner_id is None:
        raise InvalidInput(
            "an integration client must say which dispatcher owns the call",
            errors=[{"field": "owner_id", "message": "required for client keys"}],
        )
    owner = _person(session, owner_id)
    asset: Asset | None = None
    if data.asset_id is not None:
        asset = asset_service.get_asset(session=session, asset_id=data.asset_id)
    elif data.serial_number:
        asset = asset_service.get_by_serial(session=session, serial_number=data.serial_number)
    if asset is None and (data.site_id is None or data.modality is None):
        raise InvalidInput(
            "say which scanner: asset_id or serial_number, or site_id and modality",
            errors=[{"field": "asset_id", "message": "or serial_number, or site_id + modality"}],
        )
    if asset is None and data.site_id is not None:
        asset_service.get_site(session=session, site_id=data.site_id)
    call = Call(
        caller_name=data.caller_name,
        callback_number=data.callback_number,
        asset_id=asset.id if asset else None,
        site_id=asset.site_id if asset else data.site_id,
        modality=asset.modality if asset else data.modality,
        symptom=data.symptom,
        urgency=data.urgency,
        patient_impact=data.patient_impact,
        state=CallState.OPEN,
        opened_by=owner.id,
        opened_at=utcnow(),
    )
    session.add(call)
    session.flush()
    _event(
        session,
        call,
        EventKind.OPENED,
        principal,
        **_call_payload(call),
        caller_name=call.caller_name,
        callback_number=call.callback_number,
    )
    _set_owner(
        session, call, OwnerKind.CURRENT, owner, Role.DISPATCHER, "opened the call", principal
    )
    follow = asset.primary_engineer if asset else owner
    _set_owner(
        session,
        call,
        OwnerKind.FOLLOW_UP,
        follow,
        Role.FIELD_ENGINEER if asset else Role.DISPATCHER,
        "primary engineer of the scanner" if asset else "no scanner known: the opener",
        principal,
    )
    webhook_service.emit(session=session, type=EventType.CALL_OPENED, payload=_call_payload(call))
    _commit(session, call)
    return call


def get(*, session: Session, call_id: int) -> Call:
    """A call by id."""
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound(f"no call with id {call_id}")
    return call


def list(
    *,
    session: Session,
    state: CallState | None = None,
    owner_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> builtins.list[tuple[Call, str]]:
    """Calls (newest first) with the current owner's name."""
    stmt = (
        select(Call, Person.name)
        .join(
            Ownership,
            (Ownership.call_id == Call.id)
            & (Ownership.kind == OwnerKind.CURRENT)
            & Ownership.ended_at.is_(None),
        )
        .join(Person, Person.id == Ownership.person_id)
        .order_by(Call.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if state:
        stmt = stmt.where(Call.state == state)
    if owner_id is not None:
        stmt = stmt.where(Ownership.person_id == owner_id)
    return [(c, n) for c, n in session.execute(stmt).all()]


def view(*, session: Session, call_id: int) -> dict[str, Any]:
    """Everything the call screen shows: owners, timeline, ownership history."""
    call = get(session=session, call_id=call_id)
    asset = session.get(Asset, call.asset_id) if call.asset_id else None
    site = session.get(Site, call.site_id) if call.site_id else None
    history = session.scalars(
        select(Ownership).where(Ownership.call_id == call.id).order_by(Ownership.id)
    ).all()
    names = {
        p.id: p
        for p in session.scalars(
            select(Person).where(Person.id.in_({h.person_id for h in history}))
        )
    }
    current = _owner_interval(session, call.id, OwnerKind.CURRENT)
    follow = _owner_interval(session, call.id, OwnerKind.FOLLOW_UP)
    assert current is not None
    assert follow is not None
    events = session.scalars(
        select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.id)
    ).all()
    escalations = session.scalars(
        select(Escalation.id).where(Escalation.call_id == call.id).order_by(Escalation.id)
    ).all()
    return {
        **{
            c: getattr(call, c)
            for c in (
                "id",
                "state",
                "caller_name",
                "callback_number",
                "modality",
                "symptom",
                "urgency",
                "patient_impact",
                "opened_at",
                "resolved_at",
                "resolved_tier",
                "fixed_by_article_id",
                "resolution_notes",
                "draft_article_id",
            )
        },
        "allowed_transitions": sorted(TRANSITIONS[CallState(call.state)]),
        "site": site,
        "asset": asset,
        "owners": {
            "current": names[current.person_id],
            "follow_up": names[follow.person_id],
            "primary_engineer": asset.primary_engineer if asset else None,
        },
        "ownership_history": [
            {
                **{
                    c: getattr(h, c)
                    for c in ("kind", "person_id", "role", "started_at", "ended_at", "reason")
                },
                "person_name": names[h.person_id].name,
            }
            for h in history
        ],
        "timeline": events,
        "escalation_ids": builtins.list(escalations),
    }


def set_follow_up(
    *, session: Session, call_id: int, person_id: int, reason: str, principal: Principal
) -> Call:
    """Hand the follow-up (keeping the customer informed) to someone else."""
    call = get(session=session, call_id=call_id)
    person = _person(session, person_id)
    role = person.roles[0] if person.roles else "unknown"
    _set_owner(session, call, OwnerKind.FOLLOW_UP, person, role, reason or "reassigned", principal)
    _commit(session, call)
    return call


# -- work on the call --------------------------------------------------------------------


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
    asset = session.get(Asset, call.asset_id) if call.asset_id else None
    filters: dict[str, str] = {}
    skipped: dict[str, str] = {}
    if data.filters is not None:
        filters = data.filters.model_dump(exclude_none=True, mode="json")
    elif data.use_asset_filters:
        wanted = {"modality": call.modality}
        if asset is not None:
            wanted |= {"manufacturer": asset.manufacturer, "model": asset.model}
        for name, value in wanted.items():
            if not value:
                continue
            # a scanner value no article carries would filter everything away
            if name == "modality" or index.hybrid.has_value(name, value):
                filters[name] = value
            else:
                skipped[name] = value
    query = (data.query or call.symptom or "").strip()
    if not query:
        raise InvalidInput(
            "nothing to search: the call has no symptom yet",
            errors=[{"field": "query", "message": "type a symptom"}],
        )
    links = session.scalars(select(CallArticle).where(CallArticle.call_id == call.id)).all()
    tried = {link.article_id: Outcome(link.outcome) for link in links if link.outcome}
    failed = {a for a, o in tried.items() if o in FAILED}
    limit = data.limit or limits.default_limit
    response = search_service.search(
        session=session,
        index=index,
        request=SearchRequest(
            query=query,
            filters=SearchFilters(**filters),
            limit=min(limit + len(failed), limits.max_limit),
        ),
        limits=limits,
    )
    fresh: builtins.list[CallHit] = []
    demoted: builtins.list[CallHit] = []
    for hit in response.results:
        outcome = tried.get(hit.id)
        row = CallHit(**hit.model_dump(), tried_outcome=outcome, demoted=hit.id in failed)
        (demoted if hit.id in failed else fresh).append(row)
    results = fresh[:limit] + demoted
    for rank, row in enumerate(results, start=1):
        row.rank = rank
    result = CallSearchResult(
        query=query,
        filters=filters,
        skipped_filters=skipped,
        expanded_with=response.expanded_with,
        results=results,
    )
    if not record:
        return result
    for row in results:
        _link(session, call.id, row.id).suggested += 1
    _event(
        session,
        call,
        EventKind.SEARCHED,
        principal,
        query=query,
        filters=filters,
        skipped_filters=skipped,
        results=[
            {
                "rank": r.rank,
                "article_id": r.id,
                "slug": r.slug,
                "title": r.title,
                "score": r.score,
                "tried_outcome": r.tried_outcome,
            }
            for r in results
        ],
    )
    _commit(session, call)
    return result


def last_search(*, session: Session, call_id: int) -> str | None:
    """The query of the call's latest recorded search, if any."""
    event = session.scalars(
        select(CallEvent)
        .where(CallEvent.call_id == call_id, CallEvent.kind == EventKind.SEARCHED)
        .order_by(CallEvent.id.desc())
        .limit(1)
    ).first()
    return str(event.data.get("query", "")) if event is not None else None


def open_article(
    *, session: Session, call_id: int, article_id: int, principal: Principal
) -> Article:
    """Record that the dispatcher opened an article on this call."""
    call = get(session=session, call_id=call_id)
    article = article_service.get(session=session, ref=article_id)
    _link(session, call.id, article.id).opened = True
    _event(
        session,
        call,
        EventKind.ARTICLE_OPENED,
        principal,
        article_id=article.id,
        slug=article.slug,
        title=article.title,
        version=article.version,
    )
    _commit(session, call)
    return article


def record_attempt(
    *, session: Session, call_id: int, data: AttemptCreate, principal: Principal
) -> CallEvent:
    """Record the outcome of trying an article (or one of its steps)."""
    call = get(session=session, call_id=call_id)
    article = article_service.get(session=session, ref=data.article_id)
    if data.step is not None and data.step > len(article.steps):
        raise InvalidInput(
            f"article {article.slug} has {len(article.steps)} steps",
            errors=[{"field": "step", "message": f"at most {len(article.steps)}"}],
        )
    link = _link(session, call.id, article.id)
    link.opened = True
    link.outcome = data.outcome
    event = _event(
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
    _commit(session, call)
    return event


def add_note(*, session: Session, call_id: int, text: str, principal: Principal) -> CallEvent:
    """Add a note to the timeline."""
    call = get(session=session, call_id=call_id)
    event = _event(session, call, EventKind.NOTE, principal, text=text)
    _commit(session, call)
    return event


# -- escalation --------------------------------------------------------------------------


def missing_for_escalation(*, session: Session, call: Call) -> builtins.list[dict[str, str]]:
    """What the completeness check still needs (empty: ready to transfer)."""
    missing = []
    if not call.callback_number.strip():
        missing.append(
            {"field": "callback_number", "message": "ask the caller for a callback number"}
        )
    if call.asset_id is None and (call.site_id is None or call.modality is None):
        missing.append({"field": "asset", "message": "identify the scanner (or site and modality)"})
    if not call.symptom.strip():
        missing.append({"field": "symptom", "message": "record the symptom in the caller's words"})
    searches = session.scalar(
        select(func.count())
        .select_from(CallEvent)
        .where(CallEvent.call_id == call.id, CallEvent.kind == EventKind.SEARCHED)
    )
    if not searches:
        missing.append({"field": "searches", "message": "run at least one search"})
    open_without_outcome = session.execute(
        select(Article.id, Article.title)
        .join(CallArticle, CallArticle.article_id == Article.id)
        .where(
            CallArticle.call_id == call.id,
            CallArticle.opened.is_(True),
            CallArticle.outcome.is_(None),
        )
        .order_by(Article.id)
    ).all()
    for article_id, title in open_without_outcome:
        missing.append(
            {
                "field": f"outcome.article_{article_id}",
                "message": f"record the outcome of '{title}' (opened, no outcome)",
            }
        )
    return missing


def _draft_escalation(
    session: Session,
    call: Call,
    data: EscalateRequest,
    person: Person,
    targets: dict[str, int],
) -> tuple[Escalation, Person | None]:
    """An unsaved escalation for the request, with its target checked."""
    target: Person | None = None
    if data.engineer_id is not None:
        target = _person(session, data.engineer_id)
        if Role.ENGINEER not in target.roles or not target.active:
            raise InvalidInput(
                f"person {target.id} is not an active tier-2 engineer",
                errors=[{"field": "engineer_id", "message": "must have the engineer role"}],
            )
    urgency = Urgency(data.urgency or call.urgency)
    now = utcnow()
    escalation = Escalation(
        call_id=call.id,
        reason=data.reason,
        urgency=urgency,
        target_person_id=target.id if target else None,
        queue=data.queue,
        status="pending",
        package={},
        created_by=person.id,
        created_at=now,
        due_at=now + timedelta(minutes=targets[urgency]),
    )
    return escalation, target


def preview_escalation(
    *,
    session: Session,
    index: ArticleIndex,
    call_id: int,
    data: EscalateRequest,
    principal: Principal,
    targets: dict[str, int],
) -> tuple[builtins.list[dict[str, str]], EscalationPackage]:
    """What the check still needs and the package as tier 2 would get it now (nothing is
    saved; the preview's escalation_id is 0)."""
    call = get(session=session, call_id=call_id)
    person = _acting_person(session, principal)
    missing = [] if data.safety else missing_for_escalation(session=session, call=call)
    escalation, target = _draft_escalation(session, call, data, person, targets)
    escalation.id = 0
    package = build_package(
        session=session,
        index=index,
        call=call,
        escalation=escalation,
        data=data,
        by=person,
        target=target,
        minutes=targets[Urgency(escalation.urgency)],
    )
    return missing, package


def escalate(
    *,
    session: Session,
    index: ArticleIndex,
    call_id: int,
    data: EscalateRequest,
    idempotency_key: str | None,
    principal: Principal,
    targets: dict[str, int],
) -> tuple[Escalation, bool]:
    """Warm transfer to tier 2; returns (escalation, created). A retried request with the
    same Idempotency-Key returns the first escalation."""
    call = get(session=session, call_id=call_id)
    if idempotency_key:
        existing = session.scalars(
            select(Escalation).where(
                Escalation.call_id == call.id, Escalation.idempotency_key == idempotency_key
            )
        ).first()
        if existing is not None:
            return existing, False
    person = _acting_person(session, principal)
    if data.safety is None:
        missing = missing_for_escalation(session=session, call=call)
        if missing:
            raise InvalidInput(
                "the escalation is incomplete: " + "; ".join(m["message"] for m in missing),
                errors=missing,
            )
    escalation, target = _draft_escalation(session, call, data, person, targets)
    _move(session, call, CallState.ESCALATED, principal, data.reason)
    escalation.idempotency_key = idempotency_key
    urgency = Urgency(escalation.urgency)
    due = escalation.due_at
    session.add(escalation)
    session.flush()
    package = build_package(
        session=session,
        index=index,
        call=call,
        escalation=escalation,
        data=data,
        by=person,
        target=target,
        minutes=targets[urgency],
    )
    escalation.package = package.model_dump(mode="json")
    _event(
        session,
        call,
        EventKind.ESCALATED,
        principal,
        escalation_id=escalation.id,
        reason=data.reason,
        urgency=urgency,
        engineer_id=escalation.target_person_id,
        queue=data.queue,
        safety=data.safety.model_dump() if data.safety else None,
    )
    webhook_service.emit(
        session=session,
        type=EventType.CALL_ESCALATED,
        payload=_call_payload(call)
        | {"escalation_id": escalation.id, "urgency": urgency, "due_at": due.isoformat()},
    )
    try:
        _commit(session, call)
    except IntegrityError:  # the same Idempotency-Key raced us: return the winner
        session.rollback()
        existing = session.scalars(
            select(Escalation).where(
                Escalation.call_id == call_id, Escalation.idempotency_key == idempotency_key
            )
        ).one()
        return existing, False
    return escalation, True


def get_escalation(*, session: Session, escalation_id: int) -> Escalation:
    """An escalation by id."""
    found = session.get(Escalation, escalation_id)
    if found is None:
        raise NotFound(f"no escalation with id {escalation_id}")
    return found


def minutes_left(escalation: Escalation, now: datetime | None = None) -> int:
    """Minutes until the response target (negative when overdue)."""
    return int(((escalation.due_at - (now or utcnow())).total_seconds()) // 60)


def queue(*, session: Session, queue_name: str | None = None) -> builtins.list[QueueItem]:
    """Pending escalations, most urgent first, then oldest first."""
    stmt = select(Escalation).where(Escalation.status == "pending")
    if queue_name:
        stmt = stmt.where(Escalation.queue == queue_name)
    items = builtins.list(session.scalars(stmt))
    items.sort(key=lambda e: (URGENCY_RANK[Urgency(e.urgency)], e.created_at, e.id))
    now = utcnow()
    out = []
    for e in items:
        pkg = e.package
        asset = pkg.get("asset") or {}
        site = pkg.get("site") or {}
        out.append(
            QueueItem(
                escalation_id=e.id,
                call_id=e.call_id,
                urgency=Urgency(e.urgency),
                patient_impact=pkg.get("patient_impact", False),
                symptom=pkg.get("symptom", ""),
                site=" ".join(x for x in (site.get("hospital"), site.get("department")) if x)
                or None,
                asset=" ".join(
                    str(asset[k]) for k in ("modality", "model", "serial_number") if asset.get(k)
                )
                or None,
                target_engineer_id=e.target_person_id,
                waiting_minutes=int((now - e.created_at).total_seconds() // 60),
                minutes_left=minutes_left(e, now),
                created_at=e.created_at,
            )
        )
    return out


def accept(*, session: Session, escalation_id: int, principal: Principal) -> Escalation:
    """Tier 2 takes the call; exactly one engineer can win."""
    engineer = _acting_person(session, principal)
    escalation = get_escalation(session=session, escalation_id=escalation_id)
    if escalation.target_person_id not in (None, engineer.id):
        raise Conflict(
            f"escalation {escalation.id} is addressed to person {escalation.target_person_id};"
            " they accept or decline it",
        )
    claimed = session.execute(
        update(Escalation)
        .where(Escalation.id == escalation.id, Escalation.status == "pending")
        .values(status="accepted", accepted_by=engineer.id, accepted_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if claimed != 1:
        session.rollback()
        session.refresh(escalation)
        who = session.get(Person, escalation.accepted_by) if escalation.accepted_by else None
        raise Conflict(
            f"escalation {escalation.id} is already {escalation.status}"
            + (f" by {who.name}" if who else ""),
            current_status=escalation.status,
        )
    call = get(session=session, call_id=escalation.call_id)
    _move(session, call, CallState.ACCEPTED, principal, f"accepted escalation {escalation.id}")
    _set_owner(
        session,
        call,
        OwnerKind.CURRENT,
        engineer,
        Role.ENGINEER,
        f"accepted escalation {escalation.id}",
        principal,
    )
    _event(session, call, EventKind.ACCEPTED, principal, escalation_id=escalation.id)
    webhook_service.emit(
        session=session,
        type=EventType.CALL_ACCEPTED,
        payload=_call_payload(call)
        | {"escalation_id": escalation.id, "accepted_by": engineer.name},
    )
    _commit(session, call)
    session.refresh(escalation)
    return escalation


def decline(
    *, session: Session, escalation_id: int, reason: str, principal: Principal
) -> Escalation:
    """Hand an escalation back to its queue (it stays pending for someone else)."""
    engineer = _acting_person(session, principal)
    escalation = get_escalation(session=session, escalation_id=escalation_id)
    if escalation.status != "pending":
        raise Conflict(
            f"escalation {escalation.id} is {escalation.status}, not pending",
            current_status=escalation.status,
        )
    escalation.target_person_id = None
    call = get(session=session, call_id=escalation.call_id)
    _event(
        session,
        call,
        EventKind.DECLINED,
        principal,
        escalation_id=escalation.id,
        reason=reason,
        engineer_id=engineer.id,
    )
    _commit(session, call)
    return escalation


# -- resolution ----------------------------------------------------------------------------


def resolve(*, session: Session, call_id: int, data: ResolveRequest, principal: Principal) -> Call:
    """Tier 1 names the fixing article; tier 2 gives resolution notes."""
    call = get(session=session, call_id=call_id)
    tier = 2 if call.state == CallState.ACCEPTED else 1
    if tier == 1 and data.article_id is None:
        raise InvalidInput(
            "tier 1 resolves by naming the article that fixed it",
            errors=[{"field": "article_id", "message": "required at tier 1"}],
        )
    if tier == 2 and not data.notes:
        raise InvalidInput(
            "tier 2 resolves with resolution notes",
            errors=[{"field": "notes", "message": "required at tier 2"}],
        )
    _move(session, call, CallState.RESOLVED, principal, data.notes or "fixed by article")
    if data.article_id is not None:
        article = article_service.get(session=session, ref=data.article_id)
        link = _link(session, call.id, article.id)
        link.outcome = Outcome.FIXED
        link.fixed_tier = tier
        call.fixed_by_article_id = article.id
    call.resolution_notes = data.notes
    call.resolved_tier = tier
    call.resolved_at = utcnow()
    session.execute(
        update(Escalation)
        .where(Escalation.call_id == call.id, Escalation.status != "closed")
        .values(status="closed")
        .execution_options(synchronize_session=False)
    )
    _event(
        session,
        call,
        EventKind.RESOLVED,
        principal,
        tier=tier,
        article_id=data.article_id,
        notes=data.notes,
    )
    webhook_service.emit(
        session=session,
        type=EventType.CALL_RESOLVED,
        payload=_call_payload(call) | {"tier": tier, "article_id": data.article_id},
    )
    _commit(session, call)
    return call


def close(*, session: Session, call_id: int, principal: Principal) -> Call:
    """Close a resolved call."""
    call = get(session=session, call_id=call_id)
    _move(session, call, CallState.CLOSED, principal, "closed")
    call.closed_at = utcnow()
    _commit(session, call)
    return call


def reopen(*, session: Session, call_id: int, reason: str, principal: Principal) -> Call:
    """Reopen a resolved or closed call at tier 1; the reopener owns it."""
    call = get(session=session, call_id=call_id)
    person = _acting_person(session, principal)
    _move(session, call, CallState.OPEN, principal, reason or "reopened")
    if call.fixed_by_article_id is not None:
        link = _link(session, call.id, call.fixed_by_article_id)
        link.fixed_tier = None
        link.outcome = None
    call.fixed_by_article_id = None
    call.resolved_at = call.closed_at = call.resolved_tier = None
    _set_owner(
        session,
        call,
        OwnerKind.CURRENT,
        person,
        person.roles[0] if person.roles else "unknown",
        reason or "reopened",
        principal,
    )
    _commit(session, call)
    return call


def article_stats(*, session: Session, article_id: int) -> ArticleStats:
    """Suggested, opened, tried, fixed counts and the tier-1 fix rate of an article."""
    article_service.get(session=session, ref=article_id)
    links = session.scalars(select(CallArticle).where(CallArticle.article_id == article_id)).all()
    tried = sum(1 for x in links if x.outcome is not None)
    fixed_t1 = sum(1 for x in links if x.fixed_tier == 1)
    return ArticleStats(
        article_id=article_id,
        suggested=sum(1 for x in links if x.suggested),
        opened=sum(1 for x in links if x.opened),
        tried=tried,
        fixed=sum(1 for x in links if x.fixed_tier is not None),
        fixed_tier1=fixed_t1,
        tier1_fix_rate=round(fixed_t1 / tried, 4) if tried else None,
    )


def draft_article(
    *, session: Session, index: ArticleIndex, call_id: int, principal: Principal
) -> Article:
    """A draft article prefilled from a resolved or escalated call, linked to it."""
    call = get(session=session, call_id=call_id)
    if call.state == CallState.OPEN:
        raise Conflict(
            f"call {call.id} is still open at tier 1; resolve or escalate it first",
            current_state=call.state,
        )
    asset = session.get(Asset, call.asset_id) if call.asset_id else None
    fixing = session.get(Article, call.fixed_by_article_id) if call.fixed_by_article_id else None
    if fixing is not None:
        steps = [Step.model_validate(s) for s in fixing.steps]
    elif call.resolution_notes:
        steps = [
            Step(text=line.strip(" -*\t"))
            for line in call.resolution_notes.splitlines()
            if line.strip(" -*\t")
        ]
    else:
        steps = [Step(text="Describe the fix that worked.")]
    symptom = call.symptom or "Symptom not recorded"
    title = re.split(r"(?<=[.!?])\s", symptom, maxsplit=1)[0][:150]
    data = ArticleCreate(
        title=title if len(title) >= 3 else f"Call {call.id}",
        issue=symptom if len(symptom) >= 3 else f"Call {call.id}",
        modality=call.modality or (asset.modality if asset else "IT"),
        manufacturer=asset.manufacturer if asset else None,
        models=[asset.model] if asset else [],
        software_versions=[asset.software_version] if asset and asset.software_version else [],
        error_codes=error_codes_in(index, [call.symptom, call.resolution_notes or ""])[:50],
        cause="",
        steps=steps,
        escalate_when="",
        status="draft",
        author=principal.name,
    )
    article = article_service.create(
        session=session,
        data=data,
        actor=principal.name,
        indexer=None,
        source=f"call:{call.id}",
        change=f"drafted from call {call.id}",
    )
    call.draft_article_id = article.id
    _event(
        session, call, EventKind.DRAFT_CREATED, principal, article_id=article.id, slug=article.slug
    )
    _commit(session, call)
    return article
