"""Create an admin person with an API key and print the key (shown this once).

    python -m scripts.create_admin_key [--name "Local admin"] [--if-none]

--if-none does nothing when any API key exists (used by `make run` on a new database).
"""

from __future__ import annotations

import argparse

from app.auth import service as auth_service
from app.config import get_settings
from app.db import make_engine, make_sessionmaker, migrate, transaction


def main(argv: list[str] | None = None) -> int:
    """Create the key and print it."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--name", default="Local admin")
    parser.add_argument("--if-none", action="store_true", help="only on a database with no keys")
    args = parser.parse_args(argv)
    engine = make_engine(get_settings().effective_database_url)
    migrate(engine)
    with transaction(make_sessionmaker(engine)) as session:
        raw = auth_service.bootstrap_admin(
            session=session, name=args.name, only_if_empty=args.if_none
        )
    engine.dispose()
    if raw is None:
        print("API keys exist already; no key created (use --name without --if-none for another)")
        return 0
    print("=" * 72)
    print(f"Admin API key for {args.name!r} (shown once; it is stored hashed):")
    print(f"  {raw}")
    print("Use it as: curl -H 'X-API-Key: <key>' ...  or  Authorization: Bearer <key>")
    print("=" * 72)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
