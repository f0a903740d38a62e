"""Work orders over the API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, Field, ValidationInfo, field_validator

from app.auth.schemas import PersonRead
from app.schemas import DbId, Strict
from app.workorders.models import WorkOrderResult, WorkOrderState


class WorkOrderPart(Strict):
    """A part identified for, or used on, a visit."""

    part_number: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=300)
    quantity: int = Field(1, ge=1, le=1000)


Parts = list[WorkOrderPart]


class WorkOrderCreate(Strict):
    """Tier 2 asks for a field visit on a call it has accepted."""

    fault: str = Field(min_length=1, max_length=4000, description="The fault tier 2 found.")
    parts: Parts = Field(default_factory=list, max_length=100)
    field_engineer_id: DbId | None = Field(
        None, description="Who visits; defaults to the scanner's primary engineer."
    )
    target_date: date | None = Field(None, description="When the visit should happen by.")
    notes: str = Field("", max_length=4000, description="For the visit: access, contacts.")


class WorkOrderSchedule(Strict):
    """When the field engineer will be on site."""

    scheduled_for: AwareDatetime = Field(description="With its offset, e.g. ...T09:30:00+01:00.")


class WorkOrderComplete(Strict):
    """What the field engineer did and how the visit ended."""

    work_done: str = Field(min_length=1, max_length=4000)
    parts_used: Parts = Field(default_factory=list, max_length=100)
    result: WorkOrderResult
    findings: str | None = Field(
        None,
        max_length=4000,
        validate_default=True,
        description="What tier 2 should know; required when returned_to_tier2.",
    )

    @field_validator("findings")
    @classmethod
    def _findings_when_returned(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("result") == WorkOrderResult.RETURNED_TO_TIER2 and not value:
            raise ValueError("required when the result is returned_to_tier2")
        return value


class WorkOrderCancel(Strict):
    """Why the visit is no longer needed."""

    reason: str = Field(min_length=1, max_length=1000)


class WorkOrderRead(BaseModel):
    """A work order with who asked for it, who does it, and how far it got."""

    id: int
    call_id: int
    asset_id: int | None
    state: WorkOrderState
    allowed_transitions: list[WorkOrderState]
    fault: str
    parts: list[WorkOrderPart]
    field_engineer: PersonRead
    requested_by: PersonRead
    requested_at: datetime
    target_date: date | None
    notes: str
    scheduled_for: datetime | None
    arrived_at: datetime | None
    completed_at: datetime | None
    result: WorkOrderResult | None
    work_done: str | None
    parts_used: list[WorkOrderPart]
    findings: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    version: int
