"""What each webhook event carries as its `data`: one model per event type. Every emitter
builds its payload through these (`service.emit` checks it), and docs/webhooks.md is
generated from them (scripts/webhook_catalog.py), so the documented and the sent shape
are one. Fields are only ever added: integrators rely on the existing ones."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema, computed_field

from app.actions.models import ActionState
from app.articles.models import Modality
from app.calls.models import CallState, CancelReason, ResolutionReason, Urgency
from app.webhooks.models import EventType
from app.workorders.models import WorkOrderResult, WorkOrderState


def _iso(value: datetime) -> str:
    return value.isoformat()


# sent as Python's isoformat() ("2031-05-01T12:00:00+00:00"), as the events always were
Timestamp = Annotated[
    datetime,
    PlainSerializer(_iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Payload(BaseModel):
    """A part of an event's data; an undeclared field is refused, so none goes undocumented."""

    # every field is always sent (null when unknown), so the schema lists each as required
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class PersonRef(Payload):
    """A member of staff."""

    id: int
    name: str


class SiteRef(Payload):
    """The hospital department the call came from."""

    id: int
    hospital: str
    department: str


class ScannerRef(Payload):
    """The scanner the call is about."""

    id: int
    serial_number: str
    manufacturer: str
    model: str
    modality: Modality
    room: str | None
    site_name: str = Field(description="Hospital and department, as one line.")


class Part(Payload):
    """A part identified for, or used on, a field visit."""

    part_number: str
    description: str
    quantity: int


# -- calls -----------------------------------------------------------------------------------


class CallPayload(Payload):
    """A call as every call event carries it (no customer contact data)."""

    call_id: int
    state: CallState = Field(description="The call's state after the change.")
    urgency: Urgency
    patient_impact: bool
    asset_id: int | None = Field(description="The scanner's id; null when only a site is known.")
    site_id: int | None
    symptom: str
    modality: Modality | None
    scanner: ScannerRef | None = Field(description="Null when the caller named no scanner.")
    site: SiteRef | None
    owner: PersonRef | None = Field(description="Who works the call now.")
    primary_engineer: PersonRef | None = Field(
        description="The scanner's primary engineer, who follows every call on it."
    )

    @computed_field(description="The call in the API: GET it for the timeline and the rest.")
    def api_path(self) -> str:
        """The call's path in the API."""
        return f"/calls/{self.call_id}"


class CallOpened(CallPayload):
    """A call was opened (`POST /calls`)."""


class CallEscalated(CallPayload):
    """A call was escalated to tier 2 (`POST /calls/{id}/escalate`): to a named engineer or
    to a queue."""

    urgency: Urgency = Field(
        description="The escalation's urgency: the call's unless the escalation set another."
    )
    escalation_id: int
    due_at: Timestamp = Field(description="When tier 2 must have accepted (response target).")
    reason: str = Field(description="Why the dispatcher escalated.")
    queue: str
    target_engineer: PersonRef | None = Field(
        description="The engineer it was sent to; null when sent to the queue."
    )

    @computed_field(description="The escalation package in the API.")
    def escalation_api_path(self) -> str:
        """The escalation's path in the API."""
        return f"/escalations/{self.escalation_id}"


class CallAccepted(CallPayload):
    """A tier-2 engineer accepted an escalated call (`POST /escalations/{id}/accept`)."""

    escalation_id: int
    accepted_by: str = Field(description="The engineer's name.")
    accepted_by_id: int


class CallDeclined(CallPayload):
    """A tier-2 engineer handed an escalation back to its queue
    (`POST /escalations/{id}/decline`); it waits there for someone else."""

    escalation_id: int
    declined_by: str = Field(description="The engineer's name.")
    declined_by_id: int
    reason: str
    queue: str


class CallResolved(CallPayload):
    """A call was resolved: at tier 1 by an article, by tier 2, or by a completed field
    visit (`POST /calls/{id}/resolve`, `POST /work-orders/{id}/complete`)."""

    tier: int = Field(description="1: dispatcher, 2: remote engineer, 3: field visit.")
    article_id: int | None = Field(description="The article that fixed it, if one did.")
    notes: str | None
    reason: ResolutionReason | None = Field(description="How it was resolved when no article did.")


class CallCancelled(CallPayload):
    """A call ended without a repair (`POST /calls/{id}/cancel`)."""

    reason: CancelReason
    note: str


class CallTargetMissed(CallPayload):
    """A call missed its response target (tier 2 had not accepted by the escalation's due
    time) or its resolution target; sent once per breach by the scheduler."""

    target: Literal["response", "resolution"]
    target_minutes: int
    due_at: Timestamp
    minutes_late: int
    owner_id: int | None
    follow_up_owner_id: int | None
    escalation_id: int | None = Field(None, description="Response target only.")
    engineer_id: int | None = Field(
        None, description="Response target only: the engineer it was sent to, if named."
    )
    queue: str | None = Field(None, description="Response target only.")


# -- work orders -----------------------------------------------------------------------------


class WorkOrderPayload(Payload):
    """A field visit as its events carry it: enough to act on without calling back."""

    work_order_id: int
    call_id: int
    state: WorkOrderState
    field_engineer_id: int
    field_engineer_name: str
    field_engineer_phone: str | None = Field(
        description="Staff phone, so the visit can be arranged."
    )
    requested_by_id: int
    requested_by_name: str
    asset_id: int | None
    fault: str
    parts: list[Part] = Field(description="Parts identified for the visit.")
    target_date: date | None
    notes: str
    scheduled_for: Timestamp | None
    arrived_at: Timestamp | None
    completed_at: Timestamp | None
    result: WorkOrderResult | None
    work_done: str | None
    parts_used: list[Part]
    findings: str | None
    cancel_reason: str | None
    call: CallPayload

    @computed_field(description="The work order in the API.")
    def api_path(self) -> str:
        """The work order's path in the API."""
        return f"/work-orders/{self.work_order_id}"


class WorkOrderRequested(WorkOrderPayload):
    """Tier 2 asked for a field visit (`POST /calls/{id}/work-orders`)."""


class WorkOrderUpdated(WorkOrderPayload):
    """A field visit moved on: scheduled, on site, completed or cancelled."""


# -- actions ---------------------------------------------------------------------------------


class ActionPayload(Payload):
    """An action (a task on a call given to one person) as its events carry it."""

    action_id: int
    call_id: int
    asset_id: int | None
    title: str
    details: str
    state: ActionState
    assignee_id: int
    assignee_name: str
    assignee_phone: str | None = Field(description="Staff phone.")
    assigned_by_id: int
    assigned_by_name: str
    due_at: Timestamp
    overdue: bool
    acknowledged_at: Timestamp | None
    completed_at: Timestamp | None
    outcome: str | None
    cancel_reason: str | None
    primary_engineer_id: int | None
    primary_engineer_name: str | None
    call: CallPayload

    @computed_field(description="The action in the API.")
    def api_path(self) -> str:
        """The action's path in the API."""
        return f"/actions/{self.action_id}"


class ActionAssigned(ActionPayload):
    """An action was given to someone (`POST /calls/{id}/actions`)."""


class ActionUpdated(ActionPayload):
    """An action was acknowledged, completed or cancelled."""


class ActionOverdue(ActionPayload):
    """An open or acknowledged action passed its due time; sent once by the scheduler."""

    minutes_late: int


# -- articles --------------------------------------------------------------------------------


class ArticlePublished(Payload):
    """An article was published: created as published (`POST /articles`), or a draft or
    archived one published (`POST /articles/{ref}/publish`); an edit or an approved
    revision of a published article sends none."""

    article_id: int
    slug: str
    title: str
    version: int
    modality: Modality

    @computed_field(description="The article in the API.")
    def api_path(self) -> str:
        """The article's path in the API."""
        return f"/articles/{self.article_id}"


PAYLOADS: dict[EventType, type[Payload]] = {
    EventType.CALL_OPENED: CallOpened,
    EventType.CALL_ESCALATED: CallEscalated,
    EventType.CALL_ACCEPTED: CallAccepted,
    EventType.CALL_DECLINED: CallDeclined,
    EventType.CALL_RESOLVED: CallResolved,
    EventType.CALL_CANCELLED: CallCancelled,
    EventType.CALL_TARGET_MISSED: CallTargetMissed,
    EventType.WORK_ORDER_REQUESTED: WorkOrderRequested,
    EventType.WORK_ORDER_UPDATED: WorkOrderUpdated,
    EventType.ACTION_ASSIGNED: ActionAssigned,
    EventType.ACTION_UPDATED: ActionUpdated,
    EventType.ACTION_OVERDUE: ActionOverdue,
    EventType.ARTICLE_PUBLISHED: ArticlePublished,
}
WORK_ORDER_EVENTS: dict[EventType, type[WorkOrderPayload]] = {
    EventType.WORK_ORDER_REQUESTED: WorkOrderRequested,
    EventType.WORK_ORDER_UPDATED: WorkOrderUpdated,
}
ACTION_EVENTS: dict[EventType, type[ActionPayload]] = {
    EventType.ACTION_ASSIGNED: ActionAssigned,
    EventType.ACTION_UPDATED: ActionUpdated,
    EventType.ACTION_OVERDUE: ActionOverdue,
}
