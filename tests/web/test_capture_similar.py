"""A draft captured from a call opens in the editor with the published articles it may
repeat, so the engineer improves one of them rather than publish a second."""

from __future__ import annotations

from html import unescape

from tests.calls.conftest import Desk, desk  # noqa: F401 (the fixture, for this test)
from tests.calls.test_call_flow import _open
from tests.web.test_knowledge_pages import _engineer


def test_captured_draft_shows_the_articles_it_may_repeat(desk: Desk) -> None:  # noqa: F811
    client = desk.client
    call = _open(desk)["id"]  # the popping and streaks of the tube-arcing article
    resolved = client.post(
        f"/calls/{call}/resolve",
        json={"reason": "fixed_other_means", "notes": "Reseated the HV cable."},
        headers=desk.as_(desk.dispatcher),
    )
    assert resolved.status_code == 200, resolved.text
    csrf = _engineer(client)
    captured = client.post(f"/ui/calls/{call}/draft-article", data={"csrf_token": csrf})
    assert captured.status_code == 200, captured.text
    assert "/edit" in str(captured.url)
    page = unescape(captured.text)
    assert 'data-testid="captured-similar"' in page
    assert "Popping sound during scan with streaks in the images (tube arcing)" in page
    # an article written by hand gets no such panel on its editor
    draft = client.post(
        "/articles",
        json={
            "title": "Injector arm will not lock",
            "issue": "The contrast injector arm swings loose.",
            "modality": "CT",
            "steps": [{"text": "Check the lock."}],
        },
    ).json()
    written = client.get(f"/ui/articles/{draft['id']}/edit").text
    assert 'data-testid="captured-similar"' not in written
