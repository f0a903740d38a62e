"""Shapes shared by several domains."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, ClassVar

from annotated_types import Interval
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


class Strict(BaseModel):
    """Request bodies refuse unknown fields, so a misspelt field never silently does
    nothing, and strip surrounding whitespace from strings."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LineError(BaseModel):
    """One rejected line of a bulk import: where, which field, what is wrong."""

    line: int
    field: str
    message: str


MAX_ID = 2**63 - 1
# an id as stored (a 64-bit integer): larger numbers are a 422, not a database overflow
DbId = Annotated[int, Interval(ge=1, le=MAX_ID)]


class PartialUpdate(Strict):
    """A partial update: a field left out keeps its value; an explicit null is refused
    unless the stored value may be empty (listed in `nullable`)."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("cannot be null; leave the field out to keep its value")
        return value


def _nul_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _nul_paths(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _nul_paths(item, f"{path}.{n}" if path else str(n))


def nul_fields(value: Any) -> list[str]:
    """The dotted paths of the texts in parsed JSON that hold a NUL character, which
    PostgreSQL cannot store."""
    return list(_nul_paths(value, ""))
