"""Calls, timeline, ownership and the escalation package over the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.articles.models import Modality
from app.articles.schemas import ArticleRead
from app.assets.schemas import AssetRead, SiteRead
from app.auth.schemas import PersonRead
from app.calls.models import (
    AttemptOutcome,
    Call,
    CallState,
    CancelReason,
    EscalationStatus,
    EventKind,
    OwnerKind,
    ResolutionReason,
    Urgency,
)
from app.calls.package_schemas import EscalationPackage, PriorCall, SafetyEvent
from app.schemas import DbId, PartialUpdate, Strict
from app.search.index import Match
from app.search.schemas import Corrected, SearchFilters, SearchHit, SimilarArticle


class CallCreate(Strict):
    """What the dispatcher knows when the phone rings.

    Identify the scanner by `asset_id` or `serial_number`; when the caller does not know
    it, give `site_id` and `modality` instead.
    """

    caller_name: str = Field(min_length=1, max_length=100)
    callback_number: str = Field("", max_length=40)
    asset_id: DbId | None = None
    serial_number: str | None = Field(None, max_length=100)
    site_id: DbId | None = None
    modality: Modality | None = None
    symptom: str = Field("", max_length=4000, description="In the caller's words.")
    urgency: Urgency
    patient_impact: bool = False
    owner_id: DbId | None = Field(
        None, description="Dispatcher owning the call; defaults to the key's person."
    )
    site_contact: str = Field("", max_length=200, description="Who is with the scanner.")
    software_version: str = Field("", max_length=100)
    screen_message: str = Field("", max_length=4000, description="What the screen says.")
    started: str = Field("", max_length=200, description="When it started, as told.")
    recent_changes: str = Field("", max_length=4000, description="What changed recently.")
    system_state: str = Field("", max_length=200, description="Up, degraded, down, rebooted…")
    patient_on_table: bool = False


class CallUpdate(PartialUpdate):
    """Correct or complete what the caller said (every change is on the timeline)."""

    caller_name: str | None = Field(None, min_length=1, max_length=100)
    callback_number: str | None = Field(None, max_length=40)
    site_contact: str | None = Field(None, max_length=200)
    symptom: str | None = Field(None, max_length=4000)
    software_version: str | None = Field(None, max_length=100)
    screen_message: str | None = Field(None, max_length=4000)
    started: str | None = Field(None, max_length=200)
    recent_changes: str | None = Field(None, max_length=4000)
    system_state: str | None = Field(None, max_length=200)
    patient_on_table: bool | None = None
    urgency: Urgency | None = None
    patient_impact: bool | None = None


class CancelRequest(Strict):
    """Why the call ends without a repair."""

    reason: CancelReason
    note: str = Field("", max_length=1000)


class CallSearch(Strict):
    """A search inside a call; the scanner's modality, manufacturer and model are applied
    as filters unless `use_asset_filters` is false or `filters` overrides them."""

    query: str | None = Field(None, max_length=1000, description="Defaults to the call's symptom.")
    filters: SearchFilters | None = None
    use_asset_filters: bool = True
    limit: int | None = Field(None, ge=1, le=50)


class CallHit(SearchHit):
    """A ranked fix within a call, with what already happened to it on this call."""

    tried_outcome: AttemptOutcome | None = None
    demoted: bool = Field(False, description="Tried without success: ranked below untried.")


class CallSearchResult(BaseModel):
    """Ranked fixes for the call, failed ones last."""

    query: str
    filters: dict[str, str]
    skipped_filters: dict[str, str] = Field(
        description="Scanner values not used as filters because no article carries them."
    )
    expanded_with: list[str]
    corrected: list[Corrected] = Field(
        description="Misspelled words the keyword lane searched as the library spells them."
    )
    match: Match = Field(
        description="How well the best hit not yet failed on this call fits: strong, "
        "possible, or none (nothing fits: escalate or capture an article; the search counts "
        "as a knowledge gap)."
    )
    results: list[CallHit]


class ArticleAttemptCreate(Strict):
    """The outcome of trying an article's steps."""

    article_id: DbId
    outcome: AttemptOutcome
    step: int | None = Field(None, ge=1, description="Which step, if one in particular.")
    note: str = Field("", max_length=2000)


class NoteCreate(Strict):
    """A dispatcher or engineer note."""

    text: str = Field(min_length=1, max_length=4000)


class EscalateRequest(Strict):
    """Hand the call to tier 2: to one engineer, or to a queue (default: tier2)."""

    reason: str = Field(min_length=1, max_length=2000)
    urgency: Urgency | None = Field(None, description="Defaults to the call's urgency.")
    engineer_id: DbId | None = None
    queue: str = Field("tier2", min_length=1, max_length=50)
    safety: SafetyEvent | None = None
    nothing_applicable: str | None = Field(
        None,
        max_length=1000,
        description="Why no suggested fix could be tried: stands in for an attempt.",
    )


class DeclineRequest(Strict):
    """Why tier 2 hands it back to the queue."""

    reason: str = Field(min_length=1, max_length=1000)


class ResolveRequest(Strict):
    """Tier 1 names the article that fixed it, or why none did; tier 2 and the field
    write resolution notes."""

    article_id: DbId | None = None
    reason: ResolutionReason | None = Field(
        None, description="When no article fixed it: how it was resolved."
    )
    notes: str | None = Field(None, max_length=4000)

    @model_validator(mode="after")
    def _something(self) -> ResolveRequest:
        if self.article_id is None and not self.notes and self.reason is None:
            raise ValueError("give article_id (the article that fixed it), a reason, or notes")
        if self.article_id is not None and self.reason is not None:
            raise ValueError("give article_id or a reason, not both")
        return self


class FollowUpRequest(Strict):
    """Who keeps the customer informed from now on, and why."""

    person_id: DbId
    reason: str = Field("", max_length=300)


class ReasonRequest(Strict):
    """A reason for a state change."""

    reason: str = Field("", max_length=1000)


class EventRead(BaseModel):
    """One timeline entry."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: EventKind
    actor_id: int | None
    actor_name: str
    at: datetime
    data: dict[str, Any]


class OwnershipRead(BaseModel):
    """One ownership interval."""

    model_config = ConfigDict(from_attributes=True)

    kind: OwnerKind
    person_id: int
    person_name: str
    role: str
    started_at: datetime
    ended_at: datetime | None
    reason: str


class Owners(BaseModel):
    """Who works the call, who keeps the customer informed, and who owns the scanner."""

    current: PersonRead
    follow_up: PersonRead
    primary_engineer: PersonRead | None


class CallRead(BaseModel):
    """A call with its owners, timeline and ownership history."""

    id: int
    state: CallState
    allowed_transitions: list[CallState]
    caller_name: str
    callback_number: str
    site: SiteRead | None
    asset: AssetRead | None
    modality: Modality | None
    symptom: str
    urgency: Urgency
    patient_impact: bool
    opened_at: datetime
    resolved_at: datetime | None
    resolved_tier: int | None
    fixed_by_article_id: int | None
    resolution_reason: ResolutionReason | None
    resolution_notes: str | None
    draft_article_id: int | None
    cancel_reason: CancelReason | None
    cancel_note: str | None
    site_contact: str
    software_version: str
    screen_message: str
    started: str
    recent_changes: str
    system_state: str
    patient_on_table: bool
    version: int = Field(description="Send it back in If-Match to edit the call.")
    owners: Owners
    scanner_history: list[PriorCall] = Field(
        description="The scanner's other calls of the last 90 days, newest first."
    )
    repeat_fault: bool = Field(description="3 or more calls on the scanner within 30 days.")
    ownership_history: list[OwnershipRead]
    timeline: list[EventRead]
    escalation_ids: list[int]


class CallSummary(BaseModel):
    """A call in a list."""

    id: int
    state: CallState
    caller_name: str
    urgency: Urgency
    symptom: str
    asset_id: int | None
    opened_at: datetime
    current_owner: str

    @classmethod
    def of(cls, call: Call, current_owner: str) -> CallSummary:
        """A listed call, with its current owner's name (as `service.list` gives them)."""
        return cls(
            id=call.id,
            state=call.state,
            caller_name=call.caller_name,
            urgency=call.urgency,
            symptom=call.symptom,
            asset_id=call.asset_id,
            opened_at=call.opened_at,
            current_owner=current_owner,
        )


class EscalationRead(BaseModel):
    """An escalation and its package."""

    id: int
    call_id: int
    status: EscalationStatus
    urgency: Urgency
    queue: str
    target_engineer_id: int | None
    created_at: datetime
    due_at: datetime
    minutes_left: int
    accepted_by: int | None
    accepted_at: datetime | None
    package: EscalationPackage


class EscalationPreview(BaseModel):
    """The escalation as it would be sent now."""

    ready: bool
    missing: list[dict[str, str]]
    package: EscalationPackage
    brief: str


class QueueItem(BaseModel):
    """An escalation waiting in the tier-2 queue."""

    escalation_id: int
    call_id: int
    urgency: Urgency
    patient_impact: bool
    symptom: str
    site: str | None
    asset: str | None
    target_engineer_id: int | None
    waiting_minutes: int
    minutes_left: int
    created_at: datetime


class ArticleStats(BaseModel):
    """How an article performs on calls (KCS reuse)."""

    article_id: int
    suggested: int = Field(description="Calls on which it was among the results.")
    opened: int
    tried: int = Field(description="Calls on which its steps were tried.")
    fixed: int = Field(description="Resolved calls linked to it (reuse count).")
    fixed_tier1: int
    tier1_fix_rate: float | None = Field(description="Tier-1 fixes / calls where tried.")


class DraftFromCall(BaseModel):
    """The draft created from a call, with the published articles closest to it."""

    article: ArticleRead
    call_id: int
    similar: list[SimilarArticle] = Field(
        description=(
            "The closest published articles, best first; `likely_duplicate` marks those "
            "that probably cover the same fault (improve one of them rather than publish a "
            "second)."
        )
    )
