"""Sites and scanners over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from app.articles.models import Modality
from app.assets import service
from app.assets.schemas import (
    AssetCreate,
    AssetImportReport,
    AssetRead,
    AssetUpdate,
    SiteCreate,
    SiteRead,
    SiteUpdate,
)
from app.auth.deps import permit
from app.auth.permissions import P
from app.auth.service import Principal
from app.deps import DbSession, Route
from app.schemas import MAX_ID, DbId

router = APIRouter(tags=["sites and scanners"], route_class=Route)
Reader = Annotated[Principal, permit(P.ASSETS_READ)]
Writer = Annotated[Principal, permit(P.ASSETS_WRITE)]


@router.post("/sites", status_code=status.HTTP_201_CREATED, summary="Add a site")
def create_site(data: SiteCreate, session: DbSession, _: Writer) -> SiteRead:
    """A hospital department."""
    return SiteRead.model_validate(service.create_site(session=session, data=data))


@router.get("/sites", summary="List or find sites")
def list_sites(
    session: DbSession, _: Reader, q: Annotated[str | None, Query(max_length=200)] = None
) -> list[SiteRead]:
    """Sites whose hospital or department name contains `q`."""
    return [SiteRead.model_validate(s) for s in service.list_sites(session=session, q=q)]


@router.get("/sites/{site_id}", summary="Read a site")
def read_site(site_id: DbId, session: DbSession, _: Reader) -> SiteRead:
    """One site."""
    return SiteRead.model_validate(service.get_site(session=session, site_id=site_id))


@router.patch("/sites/{site_id}", summary="Update a site")
def update_site(site_id: DbId, data: SiteUpdate, session: DbSession, _: Writer) -> SiteRead:
    """Change a site's details."""
    return SiteRead.model_validate(service.update_site(session=session, site_id=site_id, data=data))


@router.delete("/sites/{site_id}", status_code=204, summary="Delete a site")
def delete_site(site_id: DbId, session: DbSession, _: Writer) -> Response:
    """Only a site without scanners or calls (409 otherwise)."""
    service.delete_site(session=session, site_id=site_id)
    return Response(status_code=204)


@router.post("/assets", status_code=status.HTTP_201_CREATED, summary="Register a scanner")
def create_asset(data: AssetCreate, session: DbSession, _: Writer) -> AssetRead:
    """The primary engineer (a field engineer) is the scanner's ultimate owner."""
    return AssetRead.model_validate(service.create_asset(session=session, data=data))


@router.get("/assets", summary="Find scanners")
def list_assets(
    response: Response,
    session: DbSession,
    _: Reader,
    serial: Annotated[str | None, Query(max_length=100, description="Part of a serial.")] = None,
    site: Annotated[str | None, Query(max_length=200, description="Part of a site name.")] = None,
    modality: Modality | None = None,
    site_id: DbId | None = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Part of a serial, hospital, department or model."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[AssetRead]:
    """Look up scanners while the caller is on the line; the total is in X-Total-Count."""
    items, total = service.list_assets(
        session=session,
        serial=serial,
        site=site,
        modality=modality,
        site_id=site_id,
        q=q,
        limit=limit,
        offset=offset,
    )
    response.headers["X-Total-Count"] = str(total)
    return [AssetRead.model_validate(a) for a in items]


@router.get("/assets/by-serial/{serial_number}", summary="Scanner by serial number")
def read_by_serial(serial_number: str, session: DbSession, _: Reader) -> AssetRead:
    """Exact serial number, any case."""
    return AssetRead.model_validate(
        service.get_by_serial(session=session, serial_number=serial_number)
    )


@router.get("/assets/{asset_id}", summary="Read a scanner")
def read_asset(asset_id: DbId, session: DbSession, _: Reader) -> AssetRead:
    """One scanner with its site and owners."""
    return AssetRead.model_validate(service.get_asset(session=session, asset_id=asset_id))


@router.patch("/assets/{asset_id}", summary="Update a scanner")
def update_asset(asset_id: DbId, data: AssetUpdate, session: DbSession, _: Writer) -> AssetRead:
    """Change a scanner, including its primary and backup engineer."""
    return AssetRead.model_validate(
        service.update_asset(session=session, asset_id=asset_id, data=data)
    )


@router.delete("/assets/{asset_id}", status_code=204, summary="Delete a scanner")
def delete_asset(asset_id: DbId, session: DbSession, _: Writer) -> Response:
    """Only a scanner no call refers to (409 otherwise: calls keep their history)."""
    service.delete_asset(session=session, asset_id=asset_id)
    return Response(status_code=204)


@router.post(
    "/assets/import",
    summary="Import scanners from CSV",
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
)
async def import_assets(request: Request, session: DbSession, _: Writer) -> AssetImportReport:
    """Columns: hospital, department, modality, manufacturer, model, serial_number,
    software_version, room, primary_engineer_email, backup_engineer_email. Rows are
    matched by serial number (created or updated); sites by hospital and department
    (created when new). Bad lines are reported with line and field and skipped."""
    payload = await request.body()
    return await run_in_threadpool(service.import_csv, session=session, payload=payload)
