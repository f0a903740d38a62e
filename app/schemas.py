"""Shapes shared by several domains."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Request bodies refuse unknown fields, so a misspelt field never silently does
    nothing, and strip surrounding whitespace from strings."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LineError(BaseModel):
    """One rejected line of a bulk import: where, which field, what is wrong."""

    line: int
    field: str
    message: str
