"""Sites and scanners: CRUD, look-up by serial number or site name, CSV import."""

from __future__ import annotations

import builtins
import csv
import io

from pydantic import ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.assets.models import Asset, Site
from app.assets.schemas import (
    AssetCreate,
    AssetImportReport,
    AssetUpdate,
    SiteCreate,
    SiteUpdate,
)
from app.auth import service as auth_service
from app.auth.models import Person
from app.auth.permissions import Role
from app.errors import Conflict, InvalidInput, NotFound, conflicts
from app.errors import validation_errors as _validation_errors
from app.schemas import LineError

CSV_COLUMNS = (
    "hospital",
    "department",
    "modality",
    "manufacturer",
    "model",
    "serial_number",
    "software_version",
    "room",
    "primary_engineer_email",
    "backup_engineer_email",
)


def create_site(*, session: Session, data: SiteCreate) -> Site:
    """Add a site."""
    site = Site(**data.model_dump())
    session.add(site)
    session.flush()
    return site


def get_site(*, session: Session, site_id: int) -> Site:
    """A site by id."""
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound(f"no site with id {site_id}")
    return site


def list_sites(*, session: Session, q: str | None = None) -> builtins.list[Site]:
    """Sites whose hospital or department contains q."""
    stmt = select(Site).order_by(Site.hospital, Site.department, Site.id)
    if q:
        stmt = stmt.where(
            or_(
                func.lower(Site.hospital).contains(q.lower(), autoescape=True),
                func.lower(Site.department).contains(q.lower(), autoescape=True),
            )
        )
    return builtins.list(session.scalars(stmt))


def update_site(*, session: Session, site_id: int, data: SiteUpdate) -> Site:
    """Change a site."""
    site = get_site(session=session, site_id=site_id)
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(site, name, value)
    session.flush()
    return site


def _check_owners(session: Session, primary: int | None, backup: int | None) -> None:
    if primary is not None:
        auth_service.require_role(
            session=session,
            person_id=primary,
            role=Role.FIELD_ENGINEER,
            field="primary_engineer_id",
        )
    if backup is not None:
        auth_service.require_role(
            session=session, person_id=backup, role=Role.FIELD_ENGINEER, field="backup_engineer_id"
        )


def _flush_asset(session: Session, serial: str) -> None:
    with conflicts(f"serial number {serial!r} is already registered", field="serial_number"):
        session.flush()


def delete_site(*, session: Session, site_id: int) -> None:
    """Remove a site that has no scanners and no calls."""
    site = get_site(session=session, site_id=site_id)
    if session.scalar(select(func.count()).select_from(Asset).where(Asset.site_id == site.id)):
        raise Conflict(f"site {site_id} still has scanners; move or delete them first")
    session.delete(site)
    _flush_delete(session, f"site {site_id}")


def delete_asset(*, session: Session, asset_id: int) -> None:
    """Remove a scanner that no call refers to."""
    session.delete(get_asset(session=session, asset_id=asset_id))
    _flush_delete(session, f"asset {asset_id}")


def _flush_delete(session: Session, what: str) -> None:
    with conflicts(f"{what} is referred to by calls; it is kept for their history"):
        session.flush()


def create_asset(*, session: Session, data: AssetCreate) -> Asset:
    """Register a scanner."""
    get_site(session=session, site_id=data.site_id)
    _check_owners(session, data.primary_engineer_id, data.backup_engineer_id)
    asset = Asset(**data.model_dump(mode="json"))
    session.add(asset)
    _flush_asset(session, data.serial_number)
    return asset


def get_asset(*, session: Session, asset_id: int) -> Asset:
    """A scanner by id."""
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise NotFound(f"no asset with id {asset_id}")
    return asset


def get_by_serial(*, session: Session, serial_number: str) -> Asset:
    """A scanner by its exact serial number (case-insensitive)."""
    asset = session.scalars(
        select(Asset).where(func.lower(Asset.serial_number) == serial_number.strip().lower())
    ).first()
    if asset is None:
        raise NotFound(f"no asset with serial number {serial_number!r}")
    return asset


def list_assets(
    *,
    session: Session,
    serial: str | None = None,
    site: str | None = None,
    modality: str | None = None,
    site_id: int | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[builtins.list[Asset], int]:
    """Scanners by part of a serial number, part of a site name, modality or site; `q`
    matches any of serial number, hospital, department or model."""
    stmt = select(Asset).join(Site, Asset.site_id == Site.id)
    # user text is matched literally: a % or _ in it is not a wildcard
    if q and q.strip():
        text = q.strip().lower()
        stmt = stmt.where(
            or_(
                func.lower(Asset.serial_number).contains(text, autoescape=True),
                func.lower(Site.hospital).contains(text, autoescape=True),
                func.lower(Site.department).contains(text, autoescape=True),
                func.lower(Asset.model).contains(text, autoescape=True),
            )
        )
    if serial:
        stmt = stmt.where(
            func.lower(Asset.serial_number).contains(serial.strip().lower(), autoescape=True)
        )
    if site:
        text = site.strip().lower()
        stmt = stmt.where(
            or_(
                func.lower(Site.hospital).contains(text, autoescape=True),
                func.lower(Site.department).contains(text, autoescape=True),
            )
        )
    if modality:
        stmt = stmt.where(Asset.modality == modality)
    if site_id is not None:
        stmt = stmt.where(Asset.site_id == site_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Asset.serial_number).limit(limit).offset(offset))
    return builtins.list(rows.unique()), int(total)


def update_asset(*, session: Session, asset_id: int, data: AssetUpdate) -> Asset:
    """Change a scanner (including its owners)."""
    asset = get_asset(session=session, asset_id=asset_id)
    changes = data.model_dump(exclude_unset=True, mode="json")
    if "site_id" in changes:
        get_site(session=session, site_id=changes["site_id"])
    if changes.get("primary_engineer_id", 0) is None:
        raise InvalidInput(
            "a scanner always has a primary engineer",
            errors=[{"field": "primary_engineer_id", "message": "cannot be null"}],
        )
    _check_owners(session, changes.get("primary_engineer_id"), changes.get("backup_engineer_id"))
    for name, value in changes.items():
        setattr(asset, name, value)
    _flush_asset(session, asset.serial_number)
    session.refresh(asset)
    return asset


def import_csv(*, session: Session, payload: bytes) -> AssetImportReport:
    """Create or update scanners by serial number from CSV; bad lines are reported."""
    report = AssetImportReport()
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "the body is not UTF-8 text",
            errors=[{"field": "body", "message": f"invalid byte at offset {exc.start}"}],
        ) from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS[:9] if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(
            f"the CSV header lacks {', '.join(missing)}",
            errors=[{"field": f"header.{c}", "message": "missing column"} for c in missing],
            expected_columns=list(CSV_COLUMNS),
        )
    by_email = {(p.email or "").lower(): p for p in session.scalars(select(Person)) if p.email}
    for row in reader:
        line = reader.line_num
        errors = _import_row(session, row, by_email, report)
        if errors:
            session.rollback()  # drop what the bad line began (a new site)
            report.failed += 1
            report.errors.extend(LineError(line=line, **e) for e in errors)
    return report


def _import_row(
    session: Session, row: dict[str, str], by_email: dict[str, Person], report: AssetImportReport
) -> builtins.list[dict[str, str]]:
    def person(column: str) -> int | None:
        email = (row.get(column) or "").strip().lower()
        if not email:
            return None
        found = by_email.get(email)
        return found.id if found else -1

    primary, backup = person("primary_engineer_email"), person("backup_engineer_email")
    for column, value in (("primary_engineer_email", primary), ("backup_engineer_email", backup)):
        if value == -1:
            return [{"field": column, "message": "no person with this email"}]
    if primary is None:
        return [{"field": "primary_engineer_email", "message": "required"}]
    hospital = (row.get("hospital") or "").strip()
    department = (row.get("department") or "").strip()
    if not hospital:
        return [{"field": "hospital", "message": "required"}]
    site = session.scalars(
        select(Site).where(Site.hospital == hospital, Site.department == department)
    ).first()
    if site is None:
        site = Site(hospital=hospital, department=department)
        session.add(site)
        session.flush()
    values = {
        "site_id": site.id,
        "modality": (row.get("modality") or "").strip().upper(),
        "manufacturer": row.get("manufacturer") or "",
        "model": row.get("model") or "",
        "serial_number": row.get("serial_number") or "",
        "software_version": row.get("software_version") or None,
        "room": row.get("room") or None,
        "primary_engineer_id": primary,
        "backup_engineer_id": backup,
    }
    try:
        data = AssetCreate.model_validate(values)
        _check_owners(session, data.primary_engineer_id, data.backup_engineer_id)
    except ValidationError as exc:
        return _validation_errors(exc.errors())
    except InvalidInput as exc:
        return [
            {"field": e["field"].replace("_id", "_email"), "message": e["message"]}
            for e in exc.errors
        ]
    existing = session.scalars(
        select(Asset).where(Asset.serial_number == data.serial_number)
    ).first()
    if existing is None:
        session.add(Asset(**data.model_dump(mode="json")))
        report.created += 1
    else:
        for name, value in data.model_dump(mode="json").items():
            setattr(existing, name, value)
        report.updated += 1
    # the import's point: each good line is kept whatever the lines after it hold
    session.commit()
    return []
