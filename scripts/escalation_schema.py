"""Write docs/escalation-package.schema.json from the EscalationPackage model.

python -m scripts.escalation_schema
"""

from __future__ import annotations

import json
from pathlib import Path

from app.calls.package_schemas import EscalationPackage

DOC = Path(__file__).resolve().parent.parent / "docs" / "escalation-package.schema.json"


def schema_text() -> str:
    """The JSON Schema (draft 2020-12) of escalation package version 1."""
    schema = EscalationPackage.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "escalation-package/v1"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> int:
    """Regenerate the schema file."""
    DOC.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
