"""The one transition helper behind every state machine (articles, calls, escalations)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Generic, TypeVar

from app.errors import Conflict, PreconditionFailed, PreconditionRequired

S = TypeVar("S", bound=StrEnum)


class Lifecycle(Generic[S]):
    """The allowed moves between the states of one kind of thing."""

    def __init__(self, what: str, moves: Mapping[S, frozenset[S]], *, field: str) -> None:
        self.what = what
        self.moves = dict(moves)
        self.field = field  # how the problem names the current state: state, status

    def allowed(self, current: S) -> list[S]:
        """The states `current` may move to, sorted."""
        return sorted(self.moves.get(current, frozenset()))

    def can(self, current: S, target: S) -> bool:
        """Whether `current` may move to `target`."""
        return target in self.moves.get(current, frozenset())

    def move(self, thing: Any, target: S, *, name: str | None = None) -> S:
        """Move `thing` (its `field` attribute: state, status) to `target` after the check;
        returns the state it left. The refusal names it by `name`, else by its id."""
        current = type(target)(getattr(thing, self.field))
        self.check(name or str(thing.id), current, target)
        setattr(thing, self.field, target)
        return current

    def check(self, name: str, current: S, target: S) -> None:
        """Refuse an illegal move with a 409 naming the current state and the legal moves."""
        if not self.can(current, target):
            allowed = self.allowed(current)
            raise Conflict(
                f"{self.what} {name} is {current}; it cannot become {target}",
                **{f"current_{self.field}": current, "allowed": allowed},
            )


def check_version(what: str, version: int, based_on: int | None, *, required: bool) -> None:
    """Refuse a change based on a version that is no longer current (If-Match: 412), or,
    when `required`, one that does not say which version it was based on (428)."""
    if based_on is None:
        if required:
            raise PreconditionRequired(
                f'say which version of {what} you changed: send If-Match: "{version}"',
                current_version=version,
            )
        return
    if based_on != version:
        raise PreconditionFailed(
            f"{what} is at version {version} but your request was based on version "
            f"{based_on}; reload it, reapply your change and retry",
            current_version=version,
            your_version=based_on,
        )
