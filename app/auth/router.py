"""People, integration clients and API keys (admin), and who-am-I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.auth import service
from app.auth.deps import CurrentKey, KeyCache, permit
from app.auth.permissions import P, Role
from app.auth.schemas import (
    ClientCreate,
    ClientRead,
    KeyCreate,
    KeyIssued,
    KeyRead,
    Me,
    PersonCreate,
    PersonRead,
    PersonUpdate,
)
from app.auth.service import Principal
from app.deps import DbSession, Route
from app.schemas import DbId

router = APIRouter(tags=["people and keys"], route_class=Route)


@router.get("/me", summary="Who am I")
def me(principal: CurrentKey) -> Me:
    """The owner of the calling key, its roles, KCS licence and permissions."""
    return Me(
        key_id=principal.key_id,
        name=principal.name,
        person_id=principal.person_id,
        client_id=principal.client_id,
        roles=list(principal.roles),
        licence=principal.licence,
        permissions=sorted(principal.permissions),
    )


@router.post("/people", status_code=status.HTTP_201_CREATED, summary="Add a person")
def create_person(
    data: PersonCreate, session: DbSession, _: Annotated[Principal, permit(P.PEOPLE_ADMIN)]
) -> PersonRead:
    """Dispatchers, engineers, field engineers and admins."""
    return PersonRead.model_validate(service.create_person(session=session, data=data))


@router.get("/people", summary="List people")
def list_people(
    session: DbSession,
    _: Annotated[Principal, permit(P.PEOPLE_READ)],
    role: Role | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> list[PersonRead]:
    """Everyone, or those with a role / whose name contains `q`."""
    people = service.list_people(session=session, role=role, q=q)
    return [PersonRead.model_validate(p) for p in people]


@router.get("/people/{person_id}", summary="Read a person")
def read_person(
    person_id: DbId, session: DbSession, _: Annotated[Principal, permit(P.PEOPLE_READ)]
) -> PersonRead:
    """One person with contact details."""
    return PersonRead.model_validate(service.get_person(session=session, person_id=person_id))


@router.patch("/people/{person_id}", summary="Update a person")
def update_person(
    person_id: DbId,
    data: PersonUpdate,
    session: DbSession,
    keys: KeyCache,
    _: Annotated[Principal, permit(P.PEOPLE_ADMIN)],
) -> PersonRead:
    """Change contact details, roles or KCS licence, or deactivate (a deactivated person's
    keys stop)."""
    person = service.update_person(session=session, person_id=person_id, data=data)
    keys.clear()  # new roles or a deactivation apply to the very next request
    return PersonRead.model_validate(person)


@router.post("/clients", status_code=status.HTTP_201_CREATED, summary="Add an integration client")
def create_client(
    data: ClientCreate, session: DbSession, _: Annotated[Principal, permit(P.PEOPLE_ADMIN)]
) -> ClientRead:
    """Another help-desk tool, with explicit scopes (permission names)."""
    return ClientRead.model_validate(service.create_client(session=session, data=data))


@router.get("/clients", summary="List integration clients")
def list_clients(
    session: DbSession, _: Annotated[Principal, permit(P.PEOPLE_ADMIN)]
) -> list[ClientRead]:
    """All integration clients."""
    return [ClientRead.model_validate(c) for c in service.list_clients(session=session)]


@router.post("/keys", status_code=status.HTTP_201_CREATED, summary="Issue an API key")
def create_key(
    data: KeyCreate, session: DbSession, admin: Annotated[Principal, permit(P.PEOPLE_ADMIN)]
) -> KeyIssued:
    """The key is in this response only; it is stored hashed."""
    key, raw = service.create_key(session=session, data=data, created_by=admin.person_id)
    return KeyIssued.model_validate({**KeyRead.model_validate(key).model_dump(), "key": raw})


@router.get("/keys", summary="List API keys")
def list_keys(session: DbSession, _: Annotated[Principal, permit(P.PEOPLE_ADMIN)]) -> list[KeyRead]:
    """Key records with when each was last used (never the secrets)."""
    return [KeyRead.model_validate(k) for k in service.list_keys(session=session)]


@router.post("/keys/{key_id}/revoke", summary="Revoke an API key")
def revoke_key(
    key_id: DbId,
    session: DbSession,
    keys: KeyCache,
    _: Annotated[Principal, permit(P.PEOPLE_ADMIN)],
) -> KeyRead:
    """The key stops working at once."""
    revoked = service.revoke_key(session=session, key_id=key_id)
    keys.clear()
    return KeyRead.model_validate(revoked)
