"""What the OpenAPI document says of the import and export bodies: their media types and
small examples of each format."""

from __future__ import annotations

import json
from typing import Any

_ARTICLE = {
    "title": "Gantry rotation stops with grinding noise",
    "issue": "The scanner grinds loudly when it spins up and then stops the scan.",
    "reported_as": ["horrible scraping sound when the ring spins"],
    "modality": "CT",
    "manufacturer": "Nordvale Medical",
    "models": ["Aurion 64"],
    "software_versions": [],
    "error_codes": ["GNT-204"],
    "tags": ["gantry"],
    "cause": "Worn gantry bearing.",
    "steps": [
        {"text": "Stop scanning and note the error on the console.", "tier1_allowed": True},
        {"text": "Inspect the bearing.", "tier1_allowed": False, "restriction": "covers off"},
    ],
    "escalate_when": "Any grinding noise.",
    "slug": "ct-gantry-grinding-stops",
    "status": "draft",
    "author": "j.marsh",
}
_EXPORTED = json.dumps(_ARTICLE, ensure_ascii=False, separators=(",", ":")) + "\n"
_LINE = (
    '{"title":"Gantry rotation stops with grinding noise","issue":"The scanner grinds '
    'loudly when it spins up.","modality":"CT","steps":[{"text":"Stop scanning and note '
    'the error."}],"status":"draft"}\n'
)
_ZENDESK = {
    "articles": [
        {
            "id": 360001234567,
            "title": "Gantry grinds and stops",
            "body": "<p>The gantry grinds when it spins up.</p><ol><li>Stop scanning."
            "</li><li>Note the error code.</li></ol><p>Escalate if it grinds again.</p>",
            "label_names": ["gantry", "grinding noise"],
            "section_id": 360000111222,
            "locale": "en-us",
            "html_url": "https://example.zendesk.com/hc/en-us/articles/360001234567",
            "draft": False,
        }
    ],
    "sections": [{"id": 360000111222, "name": "CT scanners", "category_id": 1}],
}
_SERVICENOW = {
    "result": [
        {
            "number": "KB0010001",
            "short_description": "Ultrasound probe shows no image",
            "text": "<p>The probe is connected but the screen stays black.</p><ol><li>"
            "Reseat the probe connector.</li><li>Select the probe again.</li></ol>",
            "kb_category": {"display_value": "Ultrasound", "value": "a1b2c3"},
            "meta": "black screen, no image from probe",
            "workflow_state": "published",
        }
    ]
}

IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-ndjson": {
                "schema": {"type": "string"},
                "example": _LINE,
                "description": "format=jsonl: one ArticleCreate object per line.",
            },
            "application/json": {
                "schema": {"type": "object"},
                "examples": {
                    "zendesk": {"summary": "format=zendesk", "value": _ZENDESK},
                    "servicenow": {"summary": "format=servicenow", "value": _SERVICENOW},
                },
            },
            "application/zip": {
                "schema": {"type": "string", "format": "binary"},
                "description": "format=files: Markdown and HTML files in a zip.",
            },
            "application/gzip": {
                "schema": {"type": "string", "format": "binary"},
                "description": "format=files: the same as a tar.gz.",
            },
        },
    }
}

EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One ArticleCreate object per line (what POST /articles/import reads).",
        "content": {"application/x-ndjson": {"schema": {"type": "string"}, "example": _EXPORTED}},
    }
}
