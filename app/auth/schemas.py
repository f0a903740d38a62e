"""People, clients and keys over the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.auth.permissions import Licence, Permission, Role
from app.schemas import DbId, PartialUpdate, Strict


class PersonCreate(Strict):
    """A new person."""

    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    team: str | None = Field(None, max_length=100)
    roles: list[Role] = Field(min_length=1)
    kcs_licence: Licence | None = Field(
        None,
        description="KCS licence; left out: publisher for roles that may publish, "
        "candidate otherwise.",
    )


class PersonUpdate(PartialUpdate):
    """A partial change to a person."""

    nullable = frozenset({"phone", "email", "team"})

    name: str | None = Field(None, min_length=1, max_length=100)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    team: str | None = Field(None, max_length=100)
    roles: list[Role] | None = Field(None, min_length=1)
    kcs_licence: Licence | None = Field(
        None,
        description="KCS licence. Left out while roles change, a person who could not "
        "write articles before gets the default of the new roles.",
    )
    active: bool | None = None


class PersonRead(BaseModel):
    """A person."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    phone: str | None
    email: str | None
    team: str | None
    roles: list[Role]
    kcs_licence: Licence
    active: bool


class ClientCreate(Strict):
    """An integration client (another help-desk tool) and what it may do."""

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Permission] = Field(min_length=1)


class ClientRead(BaseModel):
    """An integration client."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    scopes: list[Permission]


class KeyCreate(Strict):
    """Issue a key to exactly one person or one client."""

    name: str = Field(min_length=1, max_length=100, description="What the key is for.")
    person_id: DbId | None = None
    client_id: DbId | None = None


class KeyRead(BaseModel):
    """A key's record; the secret itself is never shown again."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    prefix: str
    name: str
    person_id: int | None
    client_id: int | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyIssued(KeyRead):
    """A new key: `key` is shown this once only."""

    key: str


class Me(BaseModel):
    """Who the calling key belongs to and what it may do."""

    key_id: int
    name: str
    person_id: int | None
    client_id: int | None
    roles: list[str]
    licence: Licence = Field(
        description="The KCS licence the key acts with: a client's is publisher with "
        "the articles:publish scope, contributor without."
    )
    permissions: list[Permission]
