"""A process that looks for breaches on a shared database as if it were a given time:
started twice by the tests, released together, to show each breach is claimed once."""

from __future__ import annotations

import json
import sys
from datetime import datetime

from app.config import Settings
from app.db import make_engine, make_sessionmaker, transaction
from app.models import import_all
from app.notifications import service as notification_service
from app.targets import service
from app.webhooks import service as webhook_service


def main() -> None:
    """argv: DATABASE_URL, the time as ISO 8601; waits for a line on stdin, then looks."""
    url, at = sys.argv[1], datetime.fromisoformat(sys.argv[2])
    import_all()
    webhook_service.listen(notification_service.on_event)  # as create_app does
    settings = Settings(database_url=url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    print("ready", flush=True)
    sys.stdin.readline()
    claimed = {"response": 0, "resolution": 0, "overdue_actions": 0}
    while True:
        with transaction(sessions) as session:
            found = service.check(
                session=session,
                response_minutes=settings.response_target_minutes,
                resolution_minutes=settings.resolution_target_minutes,
                now=at,
            )
        if not found.total:
            break
        claimed["response"] += found.response
        claimed["resolution"] += found.resolution
        claimed["overdue_actions"] += found.overdue_actions
    engine.dispose()
    print(json.dumps(claimed), flush=True)


if __name__ == "__main__":
    main()
