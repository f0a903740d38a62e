"""The example deliveries of docs/webhooks.md: one call's story, built through the payload
models (app/webhooks/payloads.py), so each example is a payload the service could send."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from app.webhooks.models import EventType
from app.webhooks.payloads import (
    ActionAssigned,
    ActionOverdue,
    ActionUpdated,
    ArticlePublished,
    CallAccepted,
    CallCancelled,
    CallDeclined,
    CallEscalated,
    CallOpened,
    CallPayload,
    CallResolved,
    CallTargetMissed,
    Part,
    Payload,
    PersonRef,
    ScannerRef,
    SiteRef,
    WorkOrderRequested,
    WorkOrderUpdated,
)

DANA = PersonRef(id=4, name="Dana Dispatcher")
TARA = PersonRef(id=9, name="Tara Tier2")
FRANK = PersonRef(id=12, name="Frank Field")
OMAR = PersonRef(id=10, name="Omar Tier2")
SITE = SiteRef(id=3, hospital="St Mary's Hospital", department="Radiology")
SCANNER = ScannerRef(
    id=7,
    serial_number="AUR64-22817",
    manufacturer="Aurion",
    model="Aurion 64",
    modality="CT",
    room="CT 2",
    site_name="St Mary's Hospital, Radiology",
)
OPENED_AT = datetime(2031, 4, 28, 8, 14, 3, 512874, tzinfo=UTC)  # as utcnow() gives them
PARTS = [Part(part_number="HV-CBL-2200", description="HV cable, tube end", quantity=1)]


def _at(day: int, hour: int, minute: int) -> datetime:
    """A time in the example story (April 2031, UTC)."""
    return datetime(2031, 4, day, hour, minute, tzinfo=UTC)


def _call(state: str, owner: PersonRef, **more: Any) -> dict[str, Any]:
    """The example call's fields in a state."""
    return {
        "call_id": 1187,
        "state": state,
        "urgency": "degraded",
        "patient_impact": False,
        "asset_id": SCANNER.id,
        "site_id": SITE.id,
        "symptom": "Popping sound from the gantry and streaks on the images",
        "modality": "CT",
        "scanner": SCANNER,
        "site": SITE,
        "owner": owner,
        "primary_engineer": FRANK,
    } | more


def _work_order(state: str, **more: Any) -> dict[str, Any]:
    """The example work order's fields in a state."""
    return {
        "work_order_id": 311,
        "call_id": 1187,
        "state": state,
        "field_engineer_id": FRANK.id,
        "field_engineer_name": FRANK.name,
        "field_engineer_phone": "+44 20 7946 0018",
        "requested_by_id": TARA.id,
        "requested_by_name": TARA.name,
        "asset_id": SCANNER.id,
        "fault": "HV cable arcing at the tube end; the cable and its seal need replacing",
        "parts": PARTS,
        "target_date": date(2031, 4, 30),
        "notes": "Ask for Ben at the CT desk",
        "scheduled_for": None,
        "arrived_at": None,
        "completed_at": None,
        "result": None,
        "work_done": None,
        "parts_used": [],
        "findings": None,
        "cancel_reason": None,
        "call": CallPayload(**_call("field", FRANK)),
    } | more


def _action(state: str, **more: Any) -> dict[str, Any]:
    """The example action's fields in a state."""
    return {
        "action_id": 58,
        "call_id": 1187,
        "asset_id": SCANNER.id,
        "title": "Order HV-CBL-2200",
        "details": "One HV cable, tube end, for the Aurion 64 in CT 2",
        "state": state,
        "assignee_id": OMAR.id,
        "assignee_name": OMAR.name,
        "assignee_phone": "+44 20 7946 0102",
        "assigned_by_id": TARA.id,
        "assigned_by_name": TARA.name,
        "due_at": _at(30, 16, 0),
        "overdue": False,
        "acknowledged_at": None,
        "completed_at": None,
        "outcome": None,
        "cancel_reason": None,
        "primary_engineer_id": FRANK.id,
        "primary_engineer_name": FRANK.name,
        "call": CallPayload(**_call("accepted", TARA)),
    } | more


def examples() -> dict[EventType, tuple[int, datetime, Payload]]:
    """An example of every event type, (event id, when, payload): one call's story."""
    t = EventType
    escalated, declined, missed = _at(28, 8, 31), _at(28, 8, 40), _at(28, 9, 35)
    escalation = {"escalation_id": 502, "queue": "tier2"}
    fixed = "Replaced the HV cable and its seal; no arcing in 20 scans"
    return {
        t.CALL_OPENED: (5001, OPENED_AT, CallOpened(**_call("open", DANA))),
        t.CALL_ESCALATED: (
            5002,
            escalated,
            CallEscalated(
                **_call("escalated", DANA),
                **escalation,
                due_at=escalated + timedelta(minutes=60),
                reason="Arcing persists after warm-up; tube seasoning did not help",
                target_engineer=OMAR,
            ),
        ),
        t.CALL_DECLINED: (
            5003,
            declined,
            CallDeclined(
                **_call("escalated", DANA),
                **escalation,
                declined_by=OMAR.name,
                declined_by_id=OMAR.id,
                reason="On a site visit until 3 pm",
            ),
        ),
        t.CALL_TARGET_MISSED: (
            5004,
            missed,
            CallTargetMissed(
                **_call("escalated", DANA),
                **escalation,
                target="response",
                target_minutes=60,
                due_at=escalated + timedelta(minutes=60),
                minutes_late=4,
                owner_id=DANA.id,
                follow_up_owner_id=FRANK.id,
                engineer_id=None,
            ),
        ),
        t.CALL_ACCEPTED: (
            5005,
            _at(28, 9, 41),
            CallAccepted(
                **_call("accepted", TARA),
                escalation_id=502,
                accepted_by=TARA.name,
                accepted_by_id=TARA.id,
            ),
        ),
        t.ACTION_ASSIGNED: (5006, _at(28, 9, 50), ActionAssigned(**_action("open"))),
        t.ACTION_UPDATED: (
            5007,
            _at(28, 13, 40),
            ActionUpdated(
                **_action(
                    "done",
                    acknowledged_at=_at(28, 10, 2),
                    completed_at=_at(28, 13, 40),
                    outcome="Ordered; arrives Tuesday",
                )
            ),
        ),
        t.ACTION_OVERDUE: (
            5008,
            _at(30, 16, 15),
            ActionOverdue(
                **_action("acknowledged", overdue=True, acknowledged_at=_at(28, 10, 2)),
                minutes_late=15,
            ),
        ),
        t.WORK_ORDER_REQUESTED: (
            5009,
            _at(28, 10, 5),
            WorkOrderRequested(**_work_order("requested")),
        ),
        t.WORK_ORDER_UPDATED: (
            5011,
            _at(30, 11, 5),
            WorkOrderUpdated(
                **_work_order(
                    "completed",
                    scheduled_for=_at(30, 8, 30),
                    arrived_at=_at(30, 9, 2),
                    completed_at=_at(30, 11, 5),
                    result="fixed",
                    work_done=fixed,
                    parts_used=PARTS,
                    call=CallPayload(**_call("resolved", FRANK)),
                )
            ),
        ),
        t.CALL_RESOLVED: (
            5010,
            _at(30, 11, 5),
            CallResolved(
                **_call("resolved", FRANK), tier=3, article_id=None, notes=fixed, reason=None
            ),
        ),
        t.CALL_CANCELLED: (
            5012,
            _at(30, 11, 20),
            CallCancelled(
                **_call("cancelled", DANA, call_id=1190, urgency="intermittent"),
                reason="duplicate",
                note="Same fault as call 1187",
            ),
        ),
        t.ARTICLE_PUBLISHED: (
            5013,
            _at(30, 14, 20),
            ArticlePublished(
                article_id=42,
                slug="ct-hv-arcing-popping-streaks",
                title="Popping sound and streaks on CT images: HV arcing at the tube",
                version=3,
                modality="CT",
            ),
        ),
    }


def example_body(type: EventType, event_id: int, at: datetime, payload: Payload) -> dict[str, Any]:
    """A delivery body as the sender writes it (app/webhooks/worker.py)."""
    return {
        "id": event_id,
        "type": str(type),
        "created_at": at.isoformat(),
        "data": payload.model_dump(mode="json"),
    }
