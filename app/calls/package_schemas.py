"""The escalation package's shapes: every part fixed, nothing else in it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.calls.models import AttemptOutcome, CallState, Urgency
from app.schemas import Strict


class SafetyEvent(Strict):
    """Skips the completeness check: suspected quench, smoke, patient injury..."""

    kind: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=1000)


class Package(BaseModel):
    """A part of the escalation package: a fixed shape, nothing else in it."""

    model_config = ConfigDict(extra="forbid")


class PackagePerson(Package):
    """A person as the package shows them."""

    id: int
    name: str
    phone: str | None
    email: str | None


class PackageCaller(Package):
    """Who called, and how to call them back."""

    name: str
    callback_number: str


class PackageSite(Package):
    """The hospital department the scanner is in."""

    id: int
    hospital: str
    department: str
    address: str | None
    main_phone: str | None


class PackageScanner(Package):
    """The scanner the call is about."""

    id: int
    modality: str
    manufacturer: str
    model: str
    serial_number: str
    software_version: str | None
    room: str | None


class PackageTarget(Package):
    """Where the escalation goes, and who is kept informed."""

    engineer: PackagePerson | None = Field(description="The engineer asked for, if any.")
    queue: str
    inform: PackagePerson | None = Field(description="The scanner's primary engineer.")


class PackageFilters(Package):
    """The filters a search ran with."""

    modality: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    error_code: str | None = None


class PackageResult(Package):
    """One article a search showed."""

    rank: int
    article_id: int
    slug: str
    title: str
    score: float
    confidence: float | None = Field(
        None,
        description="The calibrated chance that it fixes what was searched (null: searched "
        "before the service gave one).",
    )
    tried_outcome: AttemptOutcome | None = None


class PackageSuggestion(Package):
    """An article shown during the call and not yet tried, with its best score."""

    article_id: int
    slug: str
    title: str
    score: float


class PackageNote(Package):
    """A note from the call's timeline."""

    at: datetime
    author: str
    text: str


class PackageSearch(Package):
    """One search run during the call."""

    at: datetime
    query: str
    filters: PackageFilters
    match: Literal["strong", "possible", "none"] | None = Field(
        None,
        description="How well its best untried hit fitted (none: no good match; null: "
        "searched before the service said).",
    )
    top_results: list[PackageResult]


class PackageArticleAttempt(Package):
    """One article tried, and what happened."""

    at: datetime
    article_id: int
    title: str
    step: int | None
    step_text: str | None = Field(None, description="The step's words, when one was tried.")
    outcome: AttemptOutcome
    note: str


class PackageDetails(Package):
    """What the caller told beyond the symptom."""

    site_contact: str
    software_version: str
    screen_message: str
    started: str
    recent_changes: str
    system_state: str
    patient_on_table: bool


class PriorCall(Package):
    """An earlier call on the same scanner, and how it ended."""

    id: int
    opened_at: datetime
    symptom: str
    state: CallState
    resolved_at: datetime | None
    fixed_by_article_id: int | None
    fixed_by_title: str | None
    resolution_reason: str | None
    resolution_notes: str | None


class PackageAttachment(Package):
    """A file on the call when it was escalated; its bytes are at `download_path`."""

    id: int
    filename: str
    content_type: str = Field(description="Found from the content, not the name.")
    size: int = Field(description="In bytes.")
    sha256: str
    description: str
    uploaded_by: str = Field(description="The uploader's name.")
    uploaded_at: datetime
    download_path: str = Field(description="The API path that serves the bytes.")


class PackageContact(Package):
    """A callback to the customer, promised or made, before the escalation."""

    owner: str = Field(description="Who calls (or called) the customer back.")
    number: str
    scheduled_for: datetime | None = Field(description="None for a call logged as made.")
    made_at: datetime | None
    outcome: str | None = Field(description="reached, left_message or no_answer.")
    notes: str


class SimilarScanner(Package):
    """The scanner a similar past call was on (only the modality when none was named)."""

    modality: str | None
    manufacturer: str | None
    model: str | None
    site: str | None = Field(description="The hospital.")


class PastFix(Package):
    """What fixed a past call: the article, or else how it was resolved."""

    article_id: int | None
    slug: str | None
    title: str | None
    resolution_notes: str | None = Field(description="Tier 2's or the field engineer's notes.")
    resolution_reason: str | None = Field(description="How tier 1 resolved it without one.")


class SimilarCall(Package):
    """A resolved call with a similar symptom, and what fixed it."""

    id: int
    opened_at: datetime
    resolved_at: datetime
    scanner: SimilarScanner
    symptom: str
    similarity: float = Field(description="Cosine of the two calls' texts, to 3 decimals.")
    ring: Literal["same model", "same maker", "same modality", "other"] = Field(
        description="What its scanner shares with this call's; listed in this order."
    )
    fix: PastFix


class EscalationPackage(Package):
    """Everything tier 2 needs so the customer never repeats anything.

    Schema version 5 adds similar past calls; version 4 the call's attachments and
    contact log; version 3 the caller's details, the tried steps' words and the scanner's
    history; version 2 gave every part a fixed shape. Earlier packages read as stored."""

    schema_version: int = 5
    call_id: int
    escalation_id: int
    created_at: datetime
    escalated_by: PackagePerson
    caller: PackageCaller
    site: PackageSite | None
    asset: PackageScanner | None
    modality: str | None
    primary_engineer: PackagePerson | None
    symptom: str
    error_codes: list[str]
    urgency: Urgency
    patient_impact: bool
    reason: str
    safety_event: SafetyEvent | None
    target: PackageTarget
    searches: list[PackageSearch]
    attempts: list[PackageArticleAttempt]
    already_checked: list[str] = Field(description="Don't ask the customer again.")
    best_untried: list[PackageSuggestion]
    notes: list[PackageNote]
    time_on_call_seconds: int
    response_due_by: datetime
    response_target_minutes: int
    details: PackageDetails | None = None
    scanner_history: list[PriorCall] = Field(default_factory=list)
    repeat_fault: bool = Field(False, description="3 or more calls on the scanner in 30 days.")
    attachments: list[PackageAttachment] = Field(default_factory=list)
    contacts: list[PackageContact] = Field(
        default_factory=list, description="The customer contact log, oldest first."
    )
    similar_calls: list[SimilarCall] = Field(
        default_factory=list,
        description="Up to three resolved calls like this one, on the same model first.",
    )
