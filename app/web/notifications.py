"""The console's notifications screens (being built)."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import Route

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=Route)
