"""axe-core in the browser tests: the registry's copy fetched by `make axe`, injected from
disk (no network at test time), with a check that fails on critical and serious findings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

AXE_JS = Path(__file__).resolve().parents[2] / ".cache" / "axe" / "axe.min.js"
BLOCKING = ("critical", "serious")

# every rule axe ships except the experimental ones; WCAG 2.x A and AA plus best practice
_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    targets: v.nodes.map(n => n.target.join(" ")),
  }));
}"""


@dataclass(frozen=True)
class Violation:
    """One axe rule broken on a page, with the elements at fault."""

    id: str
    impact: str
    help: str
    targets: list[str]

    def __str__(self) -> str:
        shown = ", ".join(self.targets[:5]) + (" …" if len(self.targets) > 5 else "")
        return f"{self.impact}: {self.id} ({self.help}) at {shown}"


def axe_source() -> Path:
    """The local axe.min.js; a skip naming `make axe` when it is missing (a failure where
    REQUIRE_BROWSER is set, as in CI)."""
    if AXE_JS.is_file():
        return AXE_JS
    message = f"axe-core not found at {AXE_JS}: run `make axe` (make test fetches it)"
    if os.environ.get("REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


def violations(page: Page, source: Path) -> list[Violation]:
    """Every axe violation on the page as it is now, worst first."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # evaluated, not added as a <script>: the console's policy refuses inline scripts
        page.evaluate(source.read_text())
    found: list[dict[str, Any]] = page.evaluate(_RUN)
    order = {"critical": 0, "serious": 1, "moderate": 2, "minor": 3}
    items = [Violation(v["id"], v["impact"] or "minor", v["help"], v["targets"]) for v in found]
    return sorted(items, key=lambda v: (order.get(v.impact, 4), v.id))


def assert_accessible(page: Page, source: Path, where: str) -> list[Violation]:
    """Fail on any critical or serious violation, listing them; returns the lesser ones."""
    found = violations(page, source)
    blocking = [v for v in found if v.impact in BLOCKING]
    assert not blocking, f"{where}: {len(blocking)} critical/serious axe violations:\n" + "\n".join(
        f"  {v}" for v in blocking
    )
    return found
