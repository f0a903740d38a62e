"""Actions over the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field

from app.actions.models import ActionState
from app.assets.schemas import AssetRead
from app.auth.schemas import PersonRead
from app.calls.schemas import CallSummary
from app.contacts.schemas import ContactRead
from app.schemas import DbId, Strict
from app.workorders.schemas import WorkOrderRead


class ActionCreate(Strict):
    """Someone working a call gives a task on it to a person."""

    title: str = Field(min_length=1, max_length=200, description="e.g. Order HV-CBL-2200.")
    details: str = Field("", max_length=2000)
    assignee_id: DbId = Field(description="An active person; they own the action.")
    due_at: AwareDatetime = Field(description="With its offset, e.g. ...T14:00:00+01:00.")


class ActionComplete(Strict):
    """How the action ended, if worth saying."""

    outcome: str | None = Field(None, max_length=2000)


class ActionCancel(Strict):
    """Why the action is no longer needed."""

    reason: str = Field(min_length=1, max_length=1000)


class ActionRead(BaseModel):
    """An action with who gave it, who owns it, and how far it got."""

    id: int
    call_id: int
    asset_id: int | None
    title: str
    details: str
    state: ActionState
    allowed_transitions: list[ActionState]
    assignee: PersonRead
    assigned_by: PersonRead
    assigned_at: datetime
    due_at: datetime
    overdue: bool = Field(description="Open or acknowledged and past its due time.")
    acknowledged_at: datetime | None
    completed_at: datetime | None
    outcome: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    version: int


class MyWork(BaseModel):
    """What the signed-in person has on their plate."""

    person_id: int
    actions: list[ActionRead] = Field(description="Open or acknowledged, overdue first.")
    work_orders: list[WorkOrderRead] = Field(description="Open field visits, newest first.")
    calls: list[CallSummary] = Field(description="Calls they own now, not yet resolved.")
    overdue_on_my_scanners: list[ActionRead] = Field(
        description="Overdue actions (anyone's) on calls of scanners they are primary for."
    )
    follow_ups_due: list[ContactRead] = Field(
        description="Callbacks to the customer they own, due within the hour or overdue, "
        "soonest first (until the call is closed).",
    )


class ScannerWorkRead(BaseModel):
    """One scanner a person looks after, with what is open on it."""

    asset: AssetRead
    open_calls: list[CallSummary] = Field(description="Calls still being worked, newest first.")
    work_orders: list[WorkOrderRead] = Field(description="Open field visits.")
    actions: list[ActionRead] = Field(description="Open or acknowledged, soonest due first.")
    follow_ups: list[CallSummary] = Field(
        description="Calls whose customer this person keeps informed, until closed."
    )
    follow_ups_due: list[ContactRead] = Field(
        description="Callbacks (anyone's) on its calls due within the hour or overdue, "
        "soonest first (until the call is closed).",
    )
