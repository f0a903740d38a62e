"""Write docs/webhooks.md: every webhook event with when it fires, an example delivery
(scripts/webhook_examples.py) and its JSON Schema, read off the payload models
(app/webhooks/payloads.py), and how to verify a delivery's signature.

python -m scripts.webhook_catalog
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.config import Settings
from app.webhooks.models import EventType
from app.webhooks.payloads import PAYLOADS
from app.webhooks.sender import USER_AGENT
from app.webhooks.signing import SIGNATURE_HEADER, TOLERANCE_SECONDS
from scripts.webhook_examples import example_body, examples

DOC = Path(__file__).resolve().parent.parent / "docs" / "webhooks.md"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

# -- the schemas -----------------------------------------------------------------------------


def _tidy(node: Any) -> Any:
    """The schema as receivers get it: `data` left open to the fields added later (the
    models refuse undeclared ones on the sending side), without pydantic's field titles."""
    if isinstance(node, list):
        return [_tidy(n) for n in node]
    if not isinstance(node, dict):
        return node
    tidy = {k: _tidy(v) for k, v in node.items() if k != "additionalProperties"}
    if isinstance(tidy.get("description"), str):  # docstrings' line breaks
        tidy["description"] = " ".join(tidy["description"].split())
    if isinstance(node.get("properties"), dict):
        tidy["properties"] = {
            name: {k: v for k, v in _tidy(prop).items() if k != "title"}
            for name, prop in node["properties"].items()
        }
    return tidy


def event_schema(type: EventType) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a whole delivery body of one event type."""
    data = PAYLOADS[type].model_json_schema(mode="serialization")
    defs = data.pop("$defs", {})
    schema: dict[str, Any] = {
        "$schema": DRAFT,
        "$id": f"webhook-event/{type}",
        "title": str(type),
        "type": "object",
        "required": ["id", "type", "created_at", "data"],
        "properties": {
            "id": {
                "type": "integer",
                "description": "The event's id: the same on every re-delivery of the event.",
            },
            "type": {"const": str(type)},
            "created_at": {
                "type": "string",
                "format": "date-time",
                "description": "When the change happened (UTC).",
            },
            "data": data,
        },
    }
    if defs:
        schema["$defs"] = defs
    tidy: dict[str, Any] = _tidy(schema)
    return tidy


# -- the document ----------------------------------------------------------------------------

PYTHON_VERIFY = f'''import hashlib
import hmac
import time

TOLERANCE_SECONDS = {TOLERANCE_SECONDS}  # refuse signatures further from now (replays)


def verify_signature(secret: str, header: str, body: bytes, now: float | None = None) -> bool:
    """Whether `header` ({SIGNATURE_HEADER}) signs the raw request `body` with `secret`
    and was made within the replay window."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        received = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        return False
    signed = str(timestamp).encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), received.encode())
'''

NODE_VERIFY = f"""const crypto = require("node:crypto");

const TOLERANCE_SECONDS = {TOLERANCE_SECONDS}; // refuse signatures further from now (replays)

// Whether `header` ({SIGNATURE_HEADER}) signs the raw request body (a Buffer) with
// `secret` and was made within the replay window.
function verifySignature(secret, header, rawBody, nowSeconds = Date.now() / 1000) {{
  const fields = {{}};
  for (const part of String(header || "").split(",")) {{
    const i = part.indexOf("=");
    if (i > 0) fields[part.slice(0, i)] = part.slice(i + 1);
  }}
  if (!/^[0-9]+$/.test(fields.t || "") || !/^[0-9a-f]{{64}}$/.test(fields.v1 || "")) {{
    return false;
  }}
  const timestamp = Number(fields.t);
  if (Math.abs(nowSeconds - timestamp) > TOLERANCE_SECONDS) return false;
  const expected = crypto
    .createHmac("sha256", secret)
    .update(`${{timestamp}}.`)
    .update(rawBody)
    .digest();
  return crypto.timingSafeEqual(expected, Buffer.from(fields.v1, "hex"));
}}

module.exports = {{ verifySignature }};
"""


def _default(name: str) -> str:
    """A setting's default, as the doc states it (whatever this shell's environment says)."""
    return f"{Settings.model_fields[name].default:g}"


def _header() -> str:
    timeout, first, cap, hours = (
        _default(f"webhook_{name}")
        for name in ("timeout_seconds", "backoff_seconds", "backoff_max_seconds", "retry_hours")
    )
    return f"""# Webhook events

Other help-desk tools subscribe to events of the service: an admin (`webhooks:admin`)
registers a receiver URL, a signing secret and the event types it wants (`POST
/webhooks/subscriptions`, docs/calls.md "Webhooks"). Each event is then POSTed to the
receiver as JSON, signed with the secret.

Generated from the payload models (`app/webhooks/payloads.py`, through which every event
is built before it is sent) by `python -m scripts.webhook_catalog`; a test fails when this
file and the code disagree.

## Deliveries

The body is one JSON object, the *envelope*: `id` (the event's id), `type`, `created_at`
and `data`, whose fields each event type lists below. The request carries:

| Header | Value |
|---|---|
| `Content-Type` | `application/json` |
| `{SIGNATURE_HEADER}` | `t=<unix time>,v1=<hex HMAC-SHA256>` (below) |
| `X-Helpdesk-Event` | the event type, as in the body |
| `X-Helpdesk-Delivery` | this delivery's id (the same on each retry of it) |
| `User-Agent` | `{USER_AGENT}` |

- Answer with any 2xx within {timeout} s; anything else, a redirect too, is a failed
  attempt. Failed attempts are retried with back-off (from {first} s, doubling, up to
  {cap} s) for {hours} hours, then the delivery is marked failed; an admin can re-deliver
  it. (These are the defaults of `WEBHOOK_TIMEOUT_SECONDS`, `WEBHOOK_BACKOFF_SECONDS`,
  `WEBHOOK_BACKOFF_MAX_SECONDS` and `WEBHOOK_RETRY_HOURS`; a deployment may set others.)
- Delivery is **at least once**: the same event may arrive more than once (a retry after
  a lost answer, a re-delivery). De-duplicate on the envelope's `id`.
- A delivery being retried holds up no later one, so events can arrive out of order.
  Each carries the state *after* its change; for the state now, GET its `api_path`.
- Events are written in the same transaction as the change they report: an event is
  sent only for a change that was kept, and none is lost when the receiver is down.

## What the payloads carry

Each payload carries what a receiving tool needs without calling back: a call event the
call's id, state, urgency, modality, scanner (id, serial number, model, site), site,
current owner, the scanner's primary engineer, the symptom and the call's path in the
API (`api_path`, to be joined to the service's base URL); work order and action events
also carry their call. Ids are the service's own.

No payload carries **customer contact data** (the caller's name, the callback number,
the site contact): escalation packages carry it, so only authorised roles read it, while a
webhook receiver is any URL an admin configured. Staff phone numbers (the field engineer
of a work order, the assignee of an action) are carried, so the work can be arranged.
Free-text fields (symptom, notes, fault, details) hold what staff typed.

**Compatibility.** Fields are only ever added to `data`, never removed or renamed, and
existing fields keep their meaning; ignore fields you do not know. The schemas below leave
`data` open (no `additionalProperties: false`) for that reason. A field listed is always
present, `null` when it does not apply.

## Verifying a delivery

`{SIGNATURE_HEADER}: t=<unix time>,v1=<hex>` where `<hex>` is the HMAC-SHA256, keyed with
the subscription's secret, of the unix time, a `.`, and the raw request body (the bytes as
received: parse the JSON only after verifying). Each attempt is signed afresh, so a
re-delivery carries a new `t`. Refuse a delivery whose `t` is more than {TOLERANCE_SECONDS} s from
your clock (a replayed capture), and compare signatures in constant time.

### Python

```python
{PYTHON_VERIFY}```

For instance in a Flask view: `verify_signature(SECRET,
request.headers.get("{SIGNATURE_HEADER}", ""), request.get_data())`, answering 401 when it
is false.

### Node.js

```javascript
{NODE_VERIFY}```

With Express, read the raw body (`express.raw({{ type: "application/json" }})`) and pass
`req.body` (a Buffer) with `req.get("{SIGNATURE_HEADER}")`.

## Events

| Event | Fires when |
|---|---|
"""


def _fires(type: EventType) -> str:
    """When an event fires: its payload model's docstring, on one line."""
    doc = PAYLOADS[type].__doc__ or ""
    return " ".join(doc.split())


def document() -> str:
    """The whole of docs/webhooks.md."""
    parts = [_header()]
    parts += [f"| [`{t}`](#{str(t).replace('.', '')}) | {_fires(t)} |\n" for t in EventType]
    cases = examples()
    for type in EventType:
        body = json.dumps(example_body(type, *cases[type]), indent=2)
        schema = json.dumps(event_schema(type), indent=2)
        parts.append(
            f"""
### {type}

{_fires(type)}

```json
{body}
```

<details><summary>JSON Schema of <code>{type}</code></summary>

```json
{schema}
```

</details>
"""
        )
    return "".join(parts)


def main() -> int:
    """Regenerate the catalog."""
    DOC.write_text(document(), encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
