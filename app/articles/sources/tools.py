"""Knowledge exports of other help-desk tools read as records: Zendesk Help Center's
articles JSON and ServiceNow's `kb_knowledge` table JSON (mapping: docs/knowledge.md)."""

from __future__ import annotations

import json
import re
from typing import Any

from app.articles.sources.records import Record, source_of
from app.articles.sources.text import Problem, html_to_markdown, named_modality, split
from app.errors import InvalidInput

ZENDESK_FIELDS = {
    "id": "id",
    "title": "title",
    **dict.fromkeys(("issue", "steps", "cause", "escalate_when"), "body"),
    **dict.fromkeys(("reported_as", "tags"), "label_names"),
    "modality": "section_id",
}
SERVICENOW_FIELDS = {
    "id": "number",
    "title": "short_description",
    **dict.fromkeys(("issue", "steps", "cause", "escalate_when"), "text"),
    **dict.fromkeys(("reported_as", "tags"), "meta"),
    "modality": "kb_category",
}
# ServiceNow articles no longer in use: left out, each reported as skipped
RETIRED = {"retired", "outdated"}
_SYS_ID = re.compile(r"^[0-9a-f]{32}$")


def load_json(payload: bytes, keys: tuple[str, ...], shape: str) -> tuple[Any, list[Any]]:
    """The document and its list of records under the first of `keys` it has (one
    object stands for a list of one); 422 naming what is wrong otherwise."""
    try:
        document = json.loads(payload.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "the body is not UTF-8 text",
            errors=[{"field": "body", "message": f"invalid byte at offset {exc.start}"}],
        ) from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            "the body is not JSON",
            errors=[{"field": "body", "message": f"{exc.msg} at line {exc.lineno}"}],
        ) from exc
    except RecursionError:
        raise InvalidInput(
            "the body is not JSON we can read",
            errors=[{"field": "body", "message": "nested too deeply"}],
        ) from None
    try:  # a lone surrogate escape ("\ud800") is no text any database stores
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            "the body holds text that is not Unicode",
            errors=[{"field": "body", "message": f"an unpaired surrogate escape: {exc.reason}"}],
        ) from exc
    found = next((document[k] for k in keys if isinstance(document, dict) and k in document), None)
    if isinstance(found, dict):
        found = [found]
    if not isinstance(found, list):
        raise InvalidInput(
            f"expected {shape}",
            errors=[{"field": keys[0], "message": f"missing, or not a list: send {shape}"}],
        )
    return document, found


def zendesk(payload: bytes) -> list[Record]:
    """Zendesk Help Center articles (`GET /api/v2/help_center/articles.json`, with
    `?include=sections,categories` for section names) as records."""
    document, items = load_json(payload, ("articles", "article"), '{"articles": [...]}')
    sections = _by_id(document.get("sections"))
    categories = _by_id(document.get("categories"))
    records = []
    for number, raw in enumerate(items, start=1):
        record = Record(number=number, name=f"record {number}", fields=ZENDESK_FIELDS)
        records.append(record)
        if not isinstance(raw, dict):
            record.problem = Problem("(record)", "each article must be a JSON object")
            continue
        record.source = source_of("zendesk:", raw.get("id"))
        record.name = record.source or record.name
        section = sections.get(str(raw.get("section_id")), {})
        category = categories.get(str(section.get("category_id")), {})
        record.modality = named_modality(_str(section.get("name"))) or named_modality(
            _str(category.get("name"))
        )
        _read(record, raw.get("title"), raw.get("body"), raw.get("label_names"))
    return records


def servicenow(payload: bytes) -> list[Record]:
    """ServiceNow knowledge articles (the `kb_knowledge` table through the Table API,
    `{"result": [...]}`, or a list view's JSON export, `{"records": [...]}`) as records."""
    _, items = load_json(payload, ("result", "records"), '{"result": [...]}')
    records = []
    for number, raw in enumerate(items, start=1):
        record = Record(number=number, name=f"record {number}", fields=SERVICENOW_FIELDS)
        records.append(record)
        if not isinstance(raw, dict):
            record.problem = Problem("(record)", "each record must be a JSON object")
            continue
        record.source = source_of(
            "servicenow:", _value(raw.get("number")) or _value(raw.get("sys_id"))
        )
        record.name = record.source or record.name
        state = (_value(raw.get("workflow_state")) or "").strip().lower()
        if state in RETIRED:
            record.skip = f"workflow_state is {state!r} in ServiceNow"
            continue
        record.modality = named_modality(_name(raw.get("kb_category"))) or named_modality(
            _name(raw.get("kb_knowledge_base"))
        )
        meta = _value(raw.get("meta"))
        keywords = re.split(r"[,;\n]", meta) if isinstance(meta, str) else meta
        _read(record, _value(raw.get("short_description")), _value(raw.get("text")), keywords)
    return records


def _read(record: Record, title: Any, body: Any, labels: Any) -> None:
    """Title, HTML body and labels into the record, or the problem with them."""
    if not record.source:
        record.problem = Problem("id", "no id to recognise the article by on a re-import")
    elif not isinstance(title, str) or not title.strip():
        record.problem = Problem("title", "missing or empty")
    elif not isinstance(body, str) or not body.strip():
        record.problem = Problem("issue", "no HTML body")
    elif labels is not None and (
        not isinstance(labels, list) or not all(isinstance(x, str) for x in labels)
    ):
        record.problem = Problem("tags", "must be a list of texts")
    else:
        record.labels = list(labels or [])
        try:
            record.parts = split(html_to_markdown(body), title=" ".join(title.split()))
        except Problem as problem:
            record.problem = problem
        except RecursionError:
            record.problem = Problem("issue", "the HTML is nested too deeply to read")


def _by_id(items: Any) -> dict[str, dict[str, Any]]:
    """Side-loaded objects (sections, categories) by their id, as text."""
    if not isinstance(items, list):
        return {}
    return {str(i.get("id")): i for i in items if isinstance(i, dict)}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _value(value: Any) -> Any:
    """A ServiceNow field as sent with `sysparm_display_value` true, false or all: the
    display value where there is one."""
    if isinstance(value, dict):
        return value.get("display_value") or value.get("value")
    return value


def _name(value: Any) -> str | None:
    """A reference field's display name (a bare sys_id names nothing)."""
    text = _value(value)
    return text if isinstance(text, str) and not _SYS_ID.match(text) else None
