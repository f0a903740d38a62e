"""Sites (hospital departments) and assets (the scanners), each with its owners."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import Person
from app.db import Base, UTCDateTime, utcnow


class Site(Base):
    """A hospital department that calls in."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hospital: Mapped[str] = mapped_column(String(200), index=True)
    department: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(500), default="")
    main_phone: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Asset(Base):
    """One scanner; its primary engineer is its ultimate owner."""

    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    modality: Mapped[str] = mapped_column(String(4))
    manufacturer: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(100))
    serial_number: Mapped[str] = mapped_column(String(100), unique=True)
    software_version: Mapped[str | None] = mapped_column(String(100))
    room: Mapped[str | None] = mapped_column(String(100))
    primary_engineer_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    backup_engineer_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship(lazy="joined")
    primary_engineer: Mapped[Person] = relationship(
        foreign_keys=[primary_engineer_id], lazy="joined"
    )
    backup_engineer: Mapped[Person | None] = relationship(
        foreign_keys=[backup_engineer_id], lazy="joined"
    )
