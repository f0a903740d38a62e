"""The webhook catalog (docs/webhooks.md): generated from the payload models, and true of
what the real sender delivers: every event's body fits its documented schema, and the
doc's verification code accepts a real delivery and refuses a tampered one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from app.db import transaction, utcnow
from app.targets import service as targets
from app.webhooks.models import EventType
from app.webhooks.signing import SIGNATURE_HEADER, TOLERANCE_SECONDS
from scripts.webhook_catalog import DOC, document, event_schema
from scripts.webhook_examples import example_body, examples
from tests.calls.conftest import Desk, desk
from tests.calls.test_call_flow import _ready_call
from tests.conftest import AppFactory, article_payload
from tests.test_chain import (
    NO_THREADS,
    SECRET,
    Received,
    Receiver,
    _deliver_due,
    _dispatcher_escalates,
    _field_engineer_fixes_it,
    _ok,
    _subscribe_to_everything,
    _tier2_gets_a_part_ordered,
    _tier2_requests_a_visit,
    receiver,
)

__all__ = ["desk", "receiver"]  # the calls' desk and the chain's receiver, on this `client`


@pytest.fixture
def client(make_client: AppFactory, database_url: str) -> TestClient:
    """The app on an empty database; deliveries and breaches only when the test says."""
    return make_client(database_url, **NO_THREADS)


def _validator(type: str) -> jsonschema.Draft202012Validator:
    schema = event_schema(EventType(type))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _fits(event: dict[str, Any]) -> None:
    """The body validates against its type's schema, and `data` has exactly the fields
    the schema lists (it leaves `data` open to later fields, so this checks the rest)."""
    schema = event_schema(EventType(event["type"]))
    errors = [e.message for e in _validator(event["type"]).iter_errors(event)]
    assert errors == [], (event["type"], errors)
    assert set(event["data"]) == set(schema["properties"]["data"]["properties"]), event["type"]


def _code_block(heading: str, language: str) -> str:
    """The code block right under a heading of docs/webhooks.md."""
    found = re.search(rf"^### {heading}\n\n```{language}\n(.*?)^```", DOC.read_text(), re.S | re.M)
    assert found, f"no {language} block under {heading}"
    return found.group(1)


def test_catalog_doc_matches_code() -> None:
    assert DOC.read_text(encoding="utf-8") == document(), (
        "regenerate: python -m scripts.webhook_catalog"
    )


def test_every_event_type_is_documented_with_an_example_that_fits_its_schema() -> None:
    cases = examples()
    assert set(cases) == set(EventType)
    for type, case in cases.items():
        _fits(example_body(type, *case))


def _decline_miss_and_cancel(desk: Desk) -> None:
    """A second call: escalated to Omar, who declines; both its targets and an action on
    it run late (the scheduler's look, as if a day later); then it is cancelled."""
    c, dana, omar = desk.client, desk.as_(desk.dispatcher), desk.as_(desk.engineer2)
    cid = _ready_call(desk)
    escalate = {"reason": "still arcing", "engineer_id": desk.engineer2_id}
    escalation = _ok(c.post(f"/calls/{cid}/escalate", json=escalate, headers=dana))
    _ok(
        c.post(f"/escalations/{escalation['id']}/decline", json={"reason": "on site"}, headers=omar)
    )
    due = (utcnow() + timedelta(hours=1)).isoformat()
    action = {"title": "Call the site back", "assignee_id": desk.dispatcher_id, "due_at": due}
    _ok(c.post(f"/calls/{cid}/actions", json=action, headers=dana))
    app: Any = c.app
    with transaction(app.state.sessions) as session:
        found = targets.check(
            session=session,
            response_minutes=app.state.settings.response_target_minutes,
            resolution_minutes=app.state.settings.resolution_target_minutes,
            now=utcnow() + timedelta(days=1),
        )
    assert found == targets.Found(response=1, resolution=1, overdue_actions=1)
    _ok(c.post(f"/calls/{cid}/cancel", json={"reason": "duplicate"}, headers=dana))


def _publish_article(client: TestClient) -> None:
    created = _ok(client.post("/articles", json=article_payload(status="draft")))
    _ok(client.post(f"/articles/{created['id']}/publish"))


def test_every_real_delivery_fits_its_documented_schema(desk: Desk, receiver: Receiver) -> None:
    c = desk.client
    _subscribe_to_everything(c, receiver.url)
    cid, escalation_id = _dispatcher_escalates(desk)
    _tier2_gets_a_part_ordered(desk, cid, escalation_id)
    _field_engineer_fixes_it(desk, _tier2_requests_a_visit(desk, cid))
    _decline_miss_and_cancel(desk)
    _publish_article(c)
    _deliver_due(c)

    events = [r.event for r in receiver.got]
    assert {e["type"] for e in events} == set(EventType), "every event type, really sent"
    for event in events:
        _fits(event)
    # what a receiver needs without calling back, as sent
    opened = next(e["data"] for e in events if e["type"] == "call.opened")
    assert opened["api_path"] == f"/calls/{opened['call_id']}"
    assert (opened["scanner"]["id"], opened["scanner"]["serial_number"]) == (
        desk.asset_id,
        "AUR64-0042",
    )
    assert opened["scanner"]["site_name"] == "St Elsewhere, Radiology"
    assert opened["owner"]["id"] == desk.dispatcher_id
    assert opened["primary_engineer"] == {"id": desk.field_id, "name": "Frank Field"}
    escalated = next(e["data"] for e in events if e["type"] == "call.escalated")
    assert (escalated["escalation_id"], escalated["target_engineer"]["id"]) == (
        escalation_id,
        desk.engineer_id,
    )
    assert escalated["reason"] == "arcing persists after warm-up"
    requested = next(e["data"] for e in events if e["type"] == "work_order.requested")
    assert requested["parts"][0]["part_number"] == "HV-CBL-2200"
    assert requested["field_engineer_id"] == desk.field_id
    sent = json.dumps(events)
    assert "Rita Radiographer" not in sent, "no caller name"
    assert "7946 0123" not in sent, "no callback number"


def _one_real_delivery(desk: Desk, receiver: Receiver) -> Received:
    _subscribe_to_everything(desk.client, receiver.url)
    _publish_article(desk.client)
    _deliver_due(desk.client)
    [got] = receiver.got
    return got


def test_the_docs_python_verification_accepts_a_real_delivery_and_refuses_a_tampered_one(
    desk: Desk, receiver: Receiver
) -> None:
    namespace: dict[str, Any] = {}
    exec(_code_block("Python", "python"), namespace)
    verify = namespace["verify_signature"]
    got = _one_real_delivery(desk, receiver)
    header = got.headers[SIGNATURE_HEADER.lower()]
    signed_at = int(header.split(",")[0].removeprefix("t="))

    assert verify(SECRET, header, got.body)
    assert not verify(SECRET, header, got.body.replace(b'"version":', b'"version":1'))
    assert not verify(SECRET, header, got.body + b" ")
    assert not verify("another-secret-0123", header, got.body)
    assert verify(SECRET, header, got.body, now=signed_at + TOLERANCE_SECONDS)
    assert not verify(SECRET, header, got.body, now=signed_at + TOLERANCE_SECONDS + 1)
    assert not verify(SECRET, "t=abc,v1=00", got.body)
    assert not verify(SECRET, f"t={signed_at},v1=\u00e9", got.body)


NODE_CHECK = """
const [module, secret, header, bodyHex] = process.argv.slice(1);
const { verifySignature } = require(module);
const body = Buffer.from(bodyHex, "hex");
const tampered = Buffer.concat([body, Buffer.from(" ")]);
const t = Number(header.split(",")[0].slice(2));
console.log(JSON.stringify([
  verifySignature(secret, header, body),
  verifySignature(secret, header, tampered),
  verifySignature("another-secret-0123", header, body),
  verifySignature(secret, header, body, t + Number(process.env.TOLERANCE) + 1),
  verifySignature(secret, "t=1,v1=zz", body, 1),
]));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_docs_node_verification_accepts_a_real_delivery_and_refuses_a_tampered_one(
    desk: Desk, receiver: Receiver, tmp_path: Path
) -> None:
    got = _one_real_delivery(desk, receiver)
    module = tmp_path / "verify.js"
    module.write_text(_code_block("Node.js", "javascript"), encoding="utf-8")
    header = got.headers[SIGNATURE_HEADER.lower()]
    run = subprocess.run(
        ["node", "-e", NODE_CHECK, str(module), SECRET, header, got.body.hex()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ["PATH"], "TOLERANCE": str(TOLERANCE_SECONDS)},
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [True, False, False, False, False]
