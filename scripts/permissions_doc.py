"""Write docs/permissions.md: the role/permission matrix (app/auth/permissions.py) and
what each API route needs, read off the routes' own dependencies.

python -m scripts.permissions_doc
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from app.auth.deps import Require, get_principal
from app.auth.permissions import matrix_markdown

DOC = Path(__file__).resolve().parent.parent / "docs" / "permissions.md"
# the console signs people in with a session of its own (docs/console.md)
NOT_API = ("/ui", "/static")

HEADER = """# Roles and permissions

Every endpoint except `/health`, `/docs`, `/redoc` and `/openapi.json` needs an API key
(`Authorization: Bearer <key>` or `X-API-Key: <key>`). A person's key carries the
permissions of that person's roles; an integration client's key carries exactly the
scopes (permission names) given to the client. Missing or bad key: 401. Missing
permission: 403, naming it in `missing_permissions`.

Generated from `app/auth/permissions.py` and the routes by `python -m
scripts.permissions_doc` (a test fails when this file and the code disagree).

"""

LICENCES = """

## KCS licences

Each person also holds a KCS licence (`kcs_licence` on `POST /people` and
`PATCH /people/{id}`, set by whoever holds `people:admin`). It caps what the roles allow
on articles: only a publisher keeps `articles:publish`, so anyone else who tries to
publish, archive, or approve or reject a revision gets 403 with `needed_licence:
"publisher"` and their own `licence`. The roles still decide who writes at all
(`articles:write`).

| licence | create | change a draft | edit a published or archived one | publish, archive, review |
|---|---|---|---|---|
| candidate | yes | only their own (they are its `author`) | kept as a pending revision (202) | no |
| contributor | yes | any | kept as a pending revision (202) | no |
| publisher | yes, or published at once | any | applied at once, as a new version | yes |

A person created without a licence gets `publisher` when their roles may publish
(engineer, admin) and `candidate` otherwise; a person who could not write articles and
gets a role that does, in a change naming no licence, gets that default too. People who
existed before licences got the same rule. An integration client's key acts as a
publisher with the `articles:publish` scope and as a contributor without it. What a
pending revision is and how it is reviewed: `docs/knowledge.md`."""

ROUTES_HEADER = """

## What each route needs

Read off each route's dependencies. "any key" routes act on the caller's own things
(their notifications, their work) or check who may act inside the service (a note on a
call of a scanner one looks after, the assignee of an action), as their descriptions say.

"""


def _walk(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _walk(sub)


def route_needs(app: FastAPI) -> list[tuple[str, str, str]]:
    """(methods, path, what it needs) for every API route, in path order."""
    rows = []
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path or ""
        if not isinstance(route, APIRoute) or path.startswith(NOT_API):
            continue
        calls = list(_walk(route.dependant))
        needed = sorted({str(p) for c in calls if isinstance(c, Require) for p in c.permissions})
        if needed:
            needs = ", ".join(f"`{p}`" for p in needed)
        elif get_principal in calls:
            needs = "any key"
        else:
            needs = "no key"
        methods = ", ".join(sorted((route.methods or set()) - {"HEAD"}))
        rows.append((methods, path, needs))
    return sorted(rows, key=lambda r: (r[1], r[0]))


def routes_markdown(app: FastAPI) -> str:
    """The route table as Markdown."""
    lines = ["| method | path | needs |", "|---|---|---|"]
    lines += [f"| {m} | `{p}` | {n} |" for m, p, n in route_needs(app)]
    return "\n".join(lines)


def document(app: FastAPI) -> str:
    """The whole of docs/permissions.md."""
    return HEADER + matrix_markdown() + LICENCES + ROUTES_HEADER + routes_markdown(app) + "\n"


def main() -> int:
    """Regenerate the document."""
    from app.main import create_app

    DOC.write_text(document(create_app()), encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
