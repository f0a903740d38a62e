"""The call screen's "Similar past calls" panel: the three resolved calls most like this
one, the same scanner model first, each with what fixed it (`app/calls/similar.py`)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from app.calls import similar
from app.calls.package_schemas import SimilarCall
from app.web.deps import Console

SHOWN = 3


class SimilarPanel:
    """The panel's calls, looked up only when the template shows it (the live results'
    fragments share the call screen's context and never do)."""

    def __init__(self, ui: Console, call_id: int) -> None:
        self.ui = ui
        self.call_id = call_id

    @cached_property
    def calls(self) -> list[SimilarCall]:
        """The similar past calls, most relevant first."""
        return similar.similar_calls(
            session=self.ui.session, index=self.ui.index, call_id=self.call_id, limit=SHOWN
        )


def context(ui: Console, call_id: int) -> dict[str, Any]:
    """What the panel shows for the call (merged into the call screen's context)."""
    return {"similar": SimilarPanel(ui, call_id)}
