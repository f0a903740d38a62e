"""Load fictional demo people, sites and scanners, and print each person's console key.

    python -m scripts.load_demo [--if-empty]

--if-empty does nothing when any site exists (used by `make run`, so a real database is
never touched). Every name, number and address here is fictional.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.assets import service as asset_service
from app.assets.models import Site
from app.assets.schemas import AssetCreate, SiteCreate
from app.auth import service as auth_service
from app.auth.permissions import Role
from app.auth.schemas import KeyCreate, PersonCreate
from app.config import get_settings
from app.db import make_engine, make_sessionmaker, migrate, transaction

PEOPLE = [
    ("Dana Reyes", [Role.DISPATCHER], "dispatch", "+44 20 7946 0101"),
    ("Erik Lindqvist", [Role.REMOTE_ENGINEER], "tier2-ct-mr", "+44 20 7946 0202"),
    ("Priya Nair", [Role.REMOTE_ENGINEER], "tier2-xr-us", "+44 20 7946 0303"),
    ("Farid Haddad", [Role.FIELD_ENGINEER], "field-north", "+44 20 7946 0404"),
    ("Grace Okafor", [Role.FIELD_ENGINEER], "field-south", "+44 20 7946 0505"),
]
SITES = [
    ("St Aldhelm General Hospital", "Radiology", "+44 20 7946 1000"),
    ("Marsh Lane Clinic", "Imaging", "+44 20 7946 2000"),
    ("Northfield Children's Hospital", "Diagnostic Imaging", "+44 20 7946 3000"),
]
# (site index, modality, manufacturer, model, serial, room, primary engineer index)
ASSETS = [
    (0, "CT", "Nordvale Medical", "Aurion 64", "NV-CT-40811", "CT 1", 3),
    (0, "MR", "Nordvale Medical", "Magnara 1.5T", "NV-MR-15220", "MR 2", 3),
    (0, "XR", "Brightmoor Systems", "Radius DR-40", "BM-DR-77310", "X-ray 3", 4),
    (1, "US", "Helix Imaging", "Sonaris S7", "HX-US-55102", "Ultrasound A", 4),
    (1, "MG", "Brightmoor Systems", "Clarity MG-5", "BM-MG-90045", "Breast 1", 4),
    (1, "CT", "Helix Imaging", "HX-Scan 32", "HX-CT-32007", "CT", 3),
    (2, "RF", "Kestrel Diagnostics", "Arcview C9", "KD-RF-09013", "Theatre 4", 3),
    (2, "NM", "Brightmoor Systems", "PetraScan PET/CT", "BM-PT-77001", "Nuclear 1", 4),
]


@dataclass
class Demo:
    """What was created: each person's name, roles and console key."""

    keys: dict[str, str]
    people: dict[str, int]
    assets: dict[str, int]


def load_demo(*, session: Session) -> Demo:
    """Create the demo people (with keys), sites and scanners."""
    keys: dict[str, str] = {}
    people: dict[str, int] = {}
    ids: list[int] = []
    for name, roles, team, phone in PEOPLE:
        email = name.lower().replace(" ", ".") + "@example.org"
        person = auth_service.create_person(
            session=session,
            data=PersonCreate(name=name, roles=roles, team=team, phone=phone, email=email),
        )
        _, raw = auth_service.create_key(
            session=session,
            data=KeyCreate(name=f"{name} console", person_id=person.id),
            created_by=None,
        )
        keys[name] = raw
        people[name] = person.id
        ids.append(person.id)
    site_ids = [
        asset_service.create_site(
            session=session,
            data=SiteCreate(hospital=h, department=d, main_phone=p, address="(fictional)"),
        ).id
        for h, d, p in SITES
    ]
    assets: dict[str, int] = {}
    for site, modality, maker, model, serial, room, engineer in ASSETS:
        asset = asset_service.create_asset(
            session=session,
            data=AssetCreate(
                site_id=site_ids[site],
                modality=modality,
                manufacturer=maker,
                model=model,
                serial_number=serial,
                room=room,
                primary_engineer_id=ids[engineer],
            ),
        )
        assets[serial] = asset.id
    return Demo(keys=keys, people=people, assets=assets)


def main(argv: list[str] | None = None) -> int:
    """Load the demo data and print the keys."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--if-empty", action="store_true", help="only when no site exists")
    args = parser.parse_args(argv)
    engine = make_engine(get_settings().effective_database_url)
    migrate(engine)
    with transaction(make_sessionmaker(engine)) as session:
        if args.if_empty and session.scalar(select(func.count()).select_from(Site)):
            print("sites exist already; no demo data loaded")
            engine.dispose()
            return 0
        demo = load_demo(session=session)
    engine.dispose()
    print("Demo people, sites and scanners loaded (all fictional). Console keys, shown once:")
    for name, roles, _, _ in PEOPLE:
        print(f"  {name:<16} {'/'.join(roles):<15} {demo.keys[name]}")
    print("Sign in at http://127.0.0.1:8000/ui with one of them.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
