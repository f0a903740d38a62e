"""Sites and assets over the API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.articles.models import Modality
from app.auth.schemas import PersonRead
from app.schemas import DbId, LineError, PartialUpdate, Strict


class SiteCreate(Strict):
    """A new site."""

    hospital: str = Field(min_length=1, max_length=200)
    department: str = Field("", max_length=200)
    address: str = Field("", max_length=500)
    main_phone: str | None = Field(None, max_length=40)


class SiteUpdate(PartialUpdate):
    """A partial change to a site."""

    nullable = frozenset({"main_phone"})

    hospital: str | None = Field(None, min_length=1, max_length=200)
    department: str | None = Field(None, max_length=200)
    address: str | None = Field(None, max_length=500)
    main_phone: str | None = Field(None, max_length=40)


class SiteRead(BaseModel):
    """A site."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    hospital: str
    department: str
    address: str
    main_phone: str | None


class AssetCreate(Strict):
    """A new scanner; the primary engineer must be an active field engineer."""

    site_id: DbId
    modality: Modality
    manufacturer: str = Field(min_length=1, max_length=100)
    model: str = Field(min_length=1, max_length=100)
    serial_number: str = Field(min_length=1, max_length=100)
    software_version: str | None = Field(None, max_length=100)
    room: str | None = Field(None, max_length=100)
    primary_engineer_id: DbId
    backup_engineer_id: DbId | None = None


class AssetUpdate(PartialUpdate):
    """A partial change to a scanner."""

    nullable = frozenset({"software_version", "room", "backup_engineer_id"})

    site_id: DbId | None = None
    modality: Modality | None = None
    manufacturer: str | None = Field(None, min_length=1, max_length=100)
    model: str | None = Field(None, min_length=1, max_length=100)
    serial_number: str | None = Field(None, min_length=1, max_length=100)
    software_version: str | None = Field(None, max_length=100)
    room: str | None = Field(None, max_length=100)
    primary_engineer_id: DbId | None = None
    backup_engineer_id: DbId | None = None


class AssetRead(BaseModel):
    """A scanner with its site and owners."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    site: SiteRead
    modality: Modality
    manufacturer: str
    model: str
    serial_number: str
    software_version: str | None
    room: str | None
    primary_engineer: PersonRead
    backup_engineer: PersonRead | None


class AssetImportReport(BaseModel):
    """What a CSV import did."""

    created: int = 0
    updated: int = 0
    failed: int = 0
    errors: list[LineError] = Field(default_factory=list)
