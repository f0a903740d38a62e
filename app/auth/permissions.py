"""Roles, permissions and the matrix between them: the one place access is decided."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a person does in the service centre."""

    DISPATCHER = "dispatcher"
    REMOTE_ENGINEER = "engineer"  # tier 2, remote; writes articles
    FIELD_ENGINEER = "field_engineer"
    ADMIN = "admin"


class Licence(StrEnum):
    """A person's KCS licence: how far their article edits go without review."""

    CANDIDATE = "candidate"  # writes drafts of their own; edits of published ones wait
    CONTRIBUTOR = "contributor"  # writes any draft; edits of published ones wait
    PUBLISHER = "publisher"  # publishes, edits published articles directly, reviews


class Permission(StrEnum):
    """One thing a key may do; integration clients get these directly as scopes."""

    SEARCH = "search"
    ARTICLES_READ = "articles:read"
    ARTICLES_WRITE = "articles:write"
    ARTICLES_PUBLISH = "articles:publish"
    ASSETS_READ = "assets:read"
    ASSETS_WRITE = "assets:write"
    CALLS_READ = "calls:read"
    CALLS_WORK = "calls:work"
    CALLS_ESCALATE = "calls:escalate"
    CALLS_NOTE = "calls:note"
    ESCALATIONS_READ = "escalations:read"
    ESCALATIONS_HANDLE = "escalations:handle"
    WORK_ORDERS_READ = "work_orders:read"
    WORK_ORDERS_REQUEST = "work_orders:request"
    WORK_ORDERS_WORK = "work_orders:work"
    ACTIONS_READ = "actions:read"
    ACTIONS_ASSIGN = "actions:assign"
    ACTIONS_WORK = "actions:work"
    PEOPLE_READ = "people:read"
    PEOPLE_ADMIN = "people:admin"
    WEBHOOKS_ADMIN = "webhooks:admin"
    AUDIT_READ = "audit:read"
    REPORTS_READ = "reports:read"  # the desk's figures: rates, targets, article use
    INDEX_ADMIN = "index:admin"


P = Permission

MATRIX: dict[Role, frozenset[Permission]] = {
    Role.DISPATCHER: frozenset(
        {
            P.SEARCH,
            P.ARTICLES_READ,
            P.ASSETS_READ,
            P.CALLS_READ,
            P.CALLS_WORK,
            P.CALLS_ESCALATE,
            P.CALLS_NOTE,
            P.WORK_ORDERS_READ,
            P.ACTIONS_READ,
            P.ACTIONS_ASSIGN,
            P.ACTIONS_WORK,
            P.PEOPLE_READ,
        }
    ),
    Role.REMOTE_ENGINEER: frozenset(
        {
            P.SEARCH,
            P.ARTICLES_READ,
            P.ARTICLES_WRITE,
            P.ARTICLES_PUBLISH,
            P.ASSETS_READ,
            P.CALLS_READ,
            P.CALLS_WORK,
            P.CALLS_NOTE,
            P.ESCALATIONS_READ,
            P.ESCALATIONS_HANDLE,
            P.WORK_ORDERS_READ,
            P.WORK_ORDERS_REQUEST,
            P.ACTIONS_READ,
            P.ACTIONS_ASSIGN,
            P.ACTIONS_WORK,
            P.PEOPLE_READ,
            P.REPORTS_READ,
        }
    ),
    Role.FIELD_ENGINEER: frozenset(
        {
            P.SEARCH,
            P.ARTICLES_READ,
            P.ASSETS_READ,
            P.CALLS_READ,
            P.CALLS_NOTE,
            P.ESCALATIONS_READ,
            P.WORK_ORDERS_READ,
            P.WORK_ORDERS_WORK,
            P.ACTIONS_READ,
            P.ACTIONS_ASSIGN,
            P.ACTIONS_WORK,
            P.PEOPLE_READ,
        }
    ),
    Role.ADMIN: frozenset(Permission),
}


def permissions_for(roles: list[str]) -> frozenset[Permission]:
    """Union of the permissions of the given roles (unknown role names grant nothing)."""
    out: set[Permission] = set()
    for role in roles:
        if role in Role.__members__.values():
            out |= MATRIX[Role(role)]
    return frozenset(out)


def capped(permissions: frozenset[Permission], licence: str) -> frozenset[Permission]:
    """A person's permissions under their licence: only a publisher keeps `articles:publish`."""
    if licence == Licence.PUBLISHER:
        return permissions
    return permissions - {Permission.ARTICLES_PUBLISH}


def default_licence(roles: list[str]) -> Licence:
    """The licence a person gets when none is named: publisher where their roles may
    publish (as before licences existed), candidate otherwise."""
    may_publish = Permission.ARTICLES_PUBLISH in permissions_for(roles)
    return Licence.PUBLISHER if may_publish else Licence.CANDIDATE


def matrix_markdown() -> str:
    """The role/permission matrix as a Markdown table (docs/permissions.md is generated)."""
    roles = list(Role)
    lines = ["| permission | " + " | ".join(r.value for r in roles) + " |"]
    lines.append("|---|" + "---|" * len(roles))
    for perm in Permission:
        cells = ["yes" if perm in MATRIX[r] else "" for r in roles]
        lines.append(f"| `{perm.value}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)
