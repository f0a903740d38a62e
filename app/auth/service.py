"""People, clients, API keys (stored hashed) and authentication."""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import ApiKey, Client, Person
from app.auth.permissions import (
    Licence,
    Permission,
    Role,
    capped,
    default_licence,
    permissions_for,
)
from app.auth.schemas import ClientCreate, KeyCreate, PersonCreate, PersonUpdate
from app.db import utcnow
from app.errors import Conflict, InvalidInput, NotFound, Unauthorized
from app.feed import service as feed_service
from app.feed.models import Topic

KEY_PREFIX = "hd"
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    key_id: int
    name: str
    person_id: int | None
    client_id: int | None
    roles: tuple[str, ...]
    permissions: frozenset[Permission]
    # the KCS licence it acts with (a person's, capping `permissions`; a client's, from its scopes)
    licence: Licence = Licence.CANDIDATE

    def can(self, permission: Permission) -> bool:
        """Whether this caller holds the permission."""
        return permission in self.permissions

    @property
    def is_admin(self) -> bool:
        """Whether the caller is an admin, who may act for anyone."""
        return Role.ADMIN in self.roles


def _hash(secret: str) -> str:
    # keys are 256-bit random, so a fast hash is enough (no password stretching needed)
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(6)
    return prefix, f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


def _prefix(raw: str) -> str | None:
    """The look-up prefix of a well-formed key ("hd_<prefix>_<secret>"), else None."""
    parts = raw.strip().split("_")
    return parts[1] if len(parts) >= 3 and parts[0] == KEY_PREFIX else None


def find_key(*, session: Session, raw: str) -> ApiKey | None:
    """The stored key matching a presented secret, or None."""
    prefix = _prefix(raw)
    if prefix is None:
        return None
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if key is None or not hmac.compare_digest(key.key_hash, _hash(raw.strip())):
        return None
    return key


def authenticate(*, session: Session, raw: str | None) -> Principal:
    """The principal for a presented key; 401 when missing, unknown or revoked."""
    if not raw:
        raise Unauthorized("send an API key: 'Authorization: Bearer <key>' or 'X-API-Key'")
    if _prefix(raw) is None:
        raise Unauthorized("malformed API key")
    key = find_key(session=session, raw=raw)
    if key is None:
        raise Unauthorized("unknown API key")
    return principal_for_key(session=session, key=key)


def principal_for_key(*, session: Session, key: ApiKey) -> Principal:
    """The principal a stored key stands for; 401 when it was revoked or its owner is gone."""
    if key.revoked_at is not None:
        raise Unauthorized("this API key was revoked")
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        key.last_used_at = now
        session.flush()
    if key.person_id is not None:
        person = session.get(Person, key.person_id)
        if person is None or not person.active:
            raise Unauthorized("the owner of this API key is not active")
        licence = Licence(person.kcs_licence)
        perms = capped(permissions_for(person.roles), licence)
        return Principal(key.id, person.name, person.id, None, tuple(person.roles), perms, licence)
    client = session.get(Client, key.client_id)
    if client is None:
        raise Unauthorized("the client of this API key no longer exists")
    perms = frozenset(Permission(s) for s in client.scopes if s in Permission.__members__.values())
    # a client is no candidate: with the publish scope it publishes, else it contributes
    licence = Licence.PUBLISHER if Permission.ARTICLES_PUBLISH in perms else Licence.CONTRIBUTOR
    return Principal(key.id, client.name, None, client.id, (), perms, licence)


def create_person(*, session: Session, data: PersonCreate) -> Person:
    """Add a person (with the default licence of their roles unless one is named)."""
    person = Person(**data.model_dump(mode="json"))
    person.kcs_licence = data.kcs_licence or default_licence(person.roles)
    session.add(person)
    session.flush()
    return person


def get_person(*, session: Session, person_id: int) -> Person:
    """A person by id."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no person with id {person_id}")
    return person


def list_people(
    *, session: Session, role: Role | None = None, q: str | None = None
) -> builtins.list[Person]:
    """People, optionally with a role or a name containing q."""
    stmt = select(Person).order_by(Person.name, Person.id)
    if q:
        stmt = stmt.where(func.lower(Person.name).contains(q.lower()))
    people = builtins.list(session.scalars(stmt))
    return [p for p in people if role is None or role in p.roles]


def update_person(*, session: Session, person_id: int, data: PersonUpdate) -> Person:
    """Change a person's details, roles or licence."""
    person = get_person(session=session, person_id=person_id)
    changes = data.model_dump(exclude_unset=True, mode="json")
    wrote_before = Permission.ARTICLES_WRITE in permissions_for(person.roles)
    for name, value in changes.items():
        setattr(person, name, value)
    writes = Permission.ARTICLES_WRITE in permissions_for(person.roles)
    if writes and not wrote_before and "kcs_licence" not in changes:
        # no licence was earned without writing: the new roles' default, as for a new person
        person.kcs_licence = default_licence(person.roles)
    # every process's cache of verified keys forgets them (roles, deactivation)
    feed_service.record(session=session, topic=Topic.AUTH)
    session.flush()
    return person


def require_role(*, session: Session, person_id: int, role: Role, field: str) -> Person:
    """The person, who must be active and hold the role (422 naming `field` otherwise)."""
    person = session.get(Person, person_id)
    if person is None or not person.active or role not in person.roles:
        raise InvalidInput(
            f"person {person_id} is not an active {role}",
            errors=[{"field": field, "message": f"must be an active person with role {role}"}],
        )
    return person


def create_client(*, session: Session, data: ClientCreate) -> Client:
    """Register an integration client."""
    if session.scalar(select(Client.id).where(Client.name == data.name)):
        raise Conflict(f"a client named {data.name!r} exists")
    client = Client(name=data.name, scopes=[s.value for s in data.scopes])
    session.add(client)
    session.flush()
    return client


def list_clients(*, session: Session) -> builtins.list[Client]:
    """All integration clients."""
    return builtins.list(session.scalars(select(Client).order_by(Client.name)))


def create_key(*, session: Session, data: KeyCreate, created_by: int | None) -> tuple[ApiKey, str]:
    """Issue a key; returns the record and the secret (shown once, stored hashed)."""
    if (data.person_id is None) == (data.client_id is None):
        raise InvalidInput(
            "a key belongs to exactly one person or one client",
            errors=[{"field": "person_id", "message": "give person_id or client_id, not both"}],
        )
    if data.person_id is not None:
        get_person(session=session, person_id=data.person_id)
    elif session.get(Client, data.client_id) is None:
        raise NotFound(f"no client with id {data.client_id}")
    prefix, raw = _new_key()
    key = ApiKey(
        prefix=prefix,
        key_hash=_hash(raw),
        name=data.name,
        person_id=data.person_id,
        client_id=data.client_id,
        created_by=created_by,
    )
    session.add(key)
    session.flush()
    return key, raw


def list_keys(*, session: Session) -> builtins.list[ApiKey]:
    """Every key record (never the secrets)."""
    return builtins.list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(*, session: Session, key_id: int) -> ApiKey:
    """Revoke a key: it stops working at once."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key with id {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        feed_service.record(session=session, topic=Topic.AUTH, ref=key.id)
        session.flush()
    return key


def bootstrap_admin(*, session: Session, name: str, only_if_empty: bool) -> str | None:
    """Create an admin person with a key and return the key (None if keys exist and
    `only_if_empty`)."""
    if only_if_empty and session.scalar(select(func.count()).select_from(ApiKey)):
        return None
    person = create_person(
        session=session, data=PersonCreate(name=name, roles=[Role.ADMIN], team="admins")
    )
    _, raw = create_key(
        session=session,
        data=KeyCreate(name=f"{name} admin key", person_id=person.id),
        created_by=None,
    )
    return raw
