"""A request's writes are kept together or not at all."""

from __future__ import annotations

import pytest

from app.calls import reuse
from app.errors import Conflict
from tests.calls.conftest import Desk
from tests.calls.test_call_flow import _ready_call


def test_a_draft_that_fails_half_way_leaves_no_orphan_article(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = _ready_call(desk)
    resolved = desk.client.post(
        f"/calls/{cid}/resolve", json={"article_id": 1}, headers=desk.as_(desk.dispatcher)
    )
    assert resolved.status_code == 200, resolved.text
    before = desk.client.get("/articles", params={"status": "draft"}).json()["total"]

    def fails(*args: object, **kwargs: object) -> None:
        raise Conflict("the call changed while its draft was written")

    # the draft article is written first, then the call's link to it: the second fails
    monkeypatch.setattr(reuse, "add_event", fails)
    failed = desk.client.post(f"/calls/{cid}/draft-article", headers=desk.as_(desk.engineer))
    assert failed.status_code == 409
    assert desk.client.get("/articles", params={"status": "draft"}).json()["total"] == before
    assert desk.client.get(f"/calls/{cid}").json()["draft_article_id"] is None

    monkeypatch.undo()
    made = desk.client.post(f"/calls/{cid}/draft-article", headers=desk.as_(desk.engineer))
    assert made.status_code == 201, made.text
    assert desk.client.get("/articles", params={"status": "draft"}).json()["total"] == before + 1
