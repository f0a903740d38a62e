"""The call screen's side panels: attachments, actions, the customer contact log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.deps import Route
from app.web.deps import Console

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=Route)


def context(ui: Console, call_id: int) -> dict[str, Any]:
    """What the panels show for the call (merged into the call screen's context)."""
    return {}
