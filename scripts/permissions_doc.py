"""Write docs/permissions.md from the role/permission matrix in app/auth/permissions.py.

python -m scripts.permissions_doc
"""

from __future__ import annotations

from pathlib import Path

from app.auth.permissions import matrix_markdown

DOC = Path(__file__).resolve().parent.parent / "docs" / "permissions.md"

HEADER = """# Roles and permissions

Every endpoint except `/health`, `/docs`, `/redoc` and `/openapi.json` needs an API key
(`Authorization: Bearer <key>` or `X-API-Key: <key>`). A person's key carries the
permissions of that person's roles; an integration client's key carries exactly the
scopes (permission names) given to the client. Missing or bad key: 401. Missing
permission: 403, naming it in `missing_permissions`.

Generated from `app/auth/permissions.py` by `python -m scripts.permissions_doc`
(a test fails when this file and the code disagree).

"""


def main() -> int:
    """Regenerate the document."""
    DOC.write_text(HEADER + matrix_markdown() + "\n", encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
