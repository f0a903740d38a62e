"""The article editor's form: what the engineer typed <-> article content, errors in the
engineer's words, and side-by-side differences between two versions."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from app.articles.models import Modality
from app.articles.schemas import ArticleContent
from app.errors import InvalidInput, validation_errors
from app.web.render import field_errors

TEXT_FIELDS = ("title", "issue", "modality", "manufacturer", "cause", "escalate_when")
LIST_FIELDS = ("models", "software_versions", "error_codes", "tags")
LINE_FIELDS = ("reported_as",)  # one item per line: phrasings may hold commas
FIELD_LABELS = {
    "title": "Title",
    "issue": "Issue (caller's words)",
    "reported_as": "Also reported as",
    "modality": "Modality",
    "manufacturer": "Manufacturer",
    "models": "Models",
    "software_versions": "Software versions",
    "error_codes": "Error codes",
    "tags": "Tags",
    "cause": "Cause",
    "steps": "Steps",
    "escalate_when": "Escalate when",
}
MODALITY_NAMES = {
    "CT": "CT",
    "MR": "MRI (MR)",
    "US": "Ultrasound (US)",
    "XR": "X-ray (XR)",
    "MG": "Mammography (MG)",
    "RF": "Fluoroscopy, C-arm (RF)",
    "XA": "Angiography (XA)",
    "NM": "Nuclear medicine (NM)",
    "IT": "IT, PACS (IT)",
}
MODALITY_CHOICES = [(m.value, MODALITY_NAMES.get(m.value, m.value)) for m in Modality]
_STEP_KEY = re.compile(r"^steps-(\d{1,3})-(text|tier2|restriction)$")
_LIST_ITEM = re.compile(r"^(models|software_versions|error_codes|tags)\.(\d+)$")
_LINE_ITEM = re.compile(r"^(reported_as)\.(\d+)$")
_STEP_ERROR = re.compile(r"^steps\.(\d+)(?:\.(text|restriction|tier1_allowed))?$")
_STEP_CONTROL = re.compile(r"^steps-(\d+)-(text|restriction)$")
# pydantic's wording -> the engineer's
_PLAIN = (
    (
        re.compile(r"^String should have at least (\d+) characters?$"),
        "too short: write at least {0} characters",
    ),
    (
        re.compile(r"^String should have at most (\d+) characters?$"),
        "too long: at most {0} characters",
    ),
    (re.compile(r"^List should have at most (\d+) items?.*$"), "too many: at most {0}"),
    (re.compile(r"^Field required$"), "fill this in"),
)


# -- forms: what the engineer typed <-> article content ----------------------------------


def posted_text(form: FormData, name: str) -> str:
    """A posted field's text with line breaks as the stored text has them ("" if absent)."""
    value = form.get(name)
    # browsers post textarea line breaks as CRLF: unchanged text must compare equal
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else ""


def read_form(form: FormData) -> dict[str, Any]:
    """The article fields exactly as typed, steps in posted order, empty step rows dropped."""
    values: dict[str, Any] = {name: posted_text(form, name).strip() for name in TEXT_FIELDS}
    values |= {name: posted_text(form, name) for name in LIST_FIELDS + LINE_FIELDS}
    rows: dict[int, dict[str, str]] = {}
    for key, value in form.multi_items():
        match = _STEP_KEY.match(key)
        if match and isinstance(value, str):
            rows.setdefault(int(match[1]), {})[match[2]] = value.replace("\r\n", "\n")
    steps = [
        {
            "text": row.get("text", "").strip(),
            "tier2": bool(row.get("tier2")),
            "restriction": row.get("restriction", "").strip(),
        }
        for _, row in sorted(rows.items())
    ]
    values["steps"] = [s for s in steps if s["text"] or s["restriction"]]
    return values


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _lines(value: str) -> list[str]:
    return [line.strip().removeprefix("- ") for line in value.splitlines() if line.strip()]


def content_from_form(values: dict[str, Any]) -> dict[str, Any]:
    """The typed form as ArticleContent fields (lists split at commas, phrasings at line
    breaks, tier 2 as a flag)."""
    return {
        "title": values["title"],
        "issue": values["issue"],
        "reported_as": _lines(values["reported_as"]),
        "modality": values["modality"] or None,
        "manufacturer": values["manufacturer"] or None,
        **{name: _split(values[name]) for name in LIST_FIELDS},
        "cause": values["cause"],
        "steps": [
            {
                "text": s["text"],
                "tier1_allowed": not s["tier2"],
                "restriction": s["restriction"] or None,
            }
            for s in values["steps"]
        ],
        "escalate_when": values["escalate_when"],
    }


def form_from_content(content: dict[str, Any]) -> dict[str, Any]:
    """Article content as the edit form shows it."""
    values: dict[str, Any] = {
        name: str(content.get(name) or "") for name in TEXT_FIELDS if name != "modality"
    }
    values["modality"] = str(content.get("modality") or "")
    values |= {name: ", ".join(content.get(name) or []) for name in LIST_FIELDS}
    values |= {name: "\n".join(content.get(name) or []) for name in LINE_FIELDS}
    values["steps"] = [
        {
            "text": str(s.get("text", "")),
            "tier2": not s.get("tier1_allowed", True),
            "restriction": str(s.get("restriction") or ""),
        }
        for s in content.get("steps") or []
    ]
    return values


def _plain(message: str) -> str:
    message = message.removeprefix("Value error, ")
    for pattern, words in _PLAIN:
        if match := pattern.match(message):
            return words.format(*match.groups())
    return message


def form_errors(exc: InvalidInput | ValidationError) -> dict[str, str]:
    """Errors keyed by the id of the form control at fault, in words an engineer reads."""
    out: dict[str, str] = {}
    left_empty = set()
    if isinstance(exc, ValidationError):
        for raw, item in zip(exc.errors(), validation_errors(exc.errors()), strict=True):
            if raw.get("type") == "string_too_short" and raw.get("input") == "":
                left_empty.add(item["field"])
    for name, message in field_errors(exc).items():
        message = "fill this in" if name in left_empty and name in TEXT_FIELDS else _plain(message)
        if match := _LIST_ITEM.match(name):
            name, message = match[1], f"item {int(match[2]) + 1}: {message}"
        elif match := _LINE_ITEM.match(name):
            name, message = match[1], f"phrasing {int(match[2]) + 1}: {message}"
        elif match := _STEP_ERROR.match(name):
            part = match[2] if match[2] in ("text", "restriction") else "text"
            if part == "text" and "at least 1" in message:
                message = "write the step, or clear its restriction to drop the row"
            name = f"steps-{match[1]}-{part}"
        elif name == "steps" and "at least 1" in message:
            message = "write at least one step"
        elif name == "modality":
            message = "choose the modality"
        out.setdefault(name, message)
    return out


FORM_ORDER = (
    *("title", "issue", "reported_as", "modality", "manufacturer", *LIST_FIELDS),
    *("cause", "steps", "escalate_when"),
)


def error_summary(errors: dict[str, str]) -> list[tuple[str, str, str]]:
    """(control id, field, message) for each error, in the order the form shows them; the
    id is "" where no control is at fault (the form's version)."""
    rows: list[tuple[tuple[int, int, str], str, str, str]] = []
    for name, message in errors.items():
        if match := _STEP_CONTROL.match(name):
            n = int(match[1]) + 1
            what = f"Step {n}" + (", restriction" if match[2] == "restriction" else "")
            rows.append(((FORM_ORDER.index("steps"), n, match[2]), name, what, message))
        elif name in FORM_ORDER:
            target = "steps-0-text" if name == "steps" else name
            rows.append(((FORM_ORDER.index(name), 0, ""), target, FIELD_LABELS[name], message))
        else:
            rows.append(((-1, 0, name), "", "The form", message))
    return [(target, what, message) for _, target, what, message in sorted(rows)]


def normalised(content: dict[str, Any]) -> dict[str, Any]:
    """Content in its stored form, so equal articles compare equal."""
    return ArticleContent.model_validate(content).model_dump(mode="json")


# -- side-by-side differences ------------------------------------------------------------


@dataclass
class Cell:
    """One side of a diff row: its words, each marked changed or not."""

    kind: str  # "same", "del", "add" or "empty"
    parts: list[tuple[str, bool]]


def field_text(content: dict[str, Any], name: str) -> str:
    """A field as lines of text, for comparing versions."""
    value = content.get(name)
    if name == "steps":
        lines = []
        for n, step in enumerate(value or [], start=1):
            mark = ""
            if not step.get("tier1_allowed", True):
                restriction = step.get("restriction")
                mark = f"[tier 2 only{': ' + restriction if restriction else ''}] "
            lines.append(f"{n}. {mark}{step.get('text', '')}")
        return "\n".join(lines)
    if name in LINE_FIELDS:
        return "\n".join(str(v) for v in value or [])
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _words(a: str, b: str) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    left_words, right_words = re.split(r"(\s+)", a), re.split(r"(\s+)", b)
    left: list[tuple[str, bool]] = []
    right: list[tuple[str, bool]] = []
    matcher = difflib.SequenceMatcher(a=left_words, b=right_words, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        changed = tag != "equal"
        if i2 > i1:
            left.append(("".join(left_words[i1:i2]), changed))
        if j2 > j1:
            right.append(("".join(right_words[j1:j2]), changed))
    return left, right


def side_by_side(a: str, b: str) -> list[tuple[Cell, Cell]]:
    """Rows of a line diff from `a` to `b`, changed words marked within changed lines."""
    a_lines, b_lines = a.splitlines(), b.splitlines()
    rows: list[tuple[Cell, Cell]] = []
    matcher = difflib.SequenceMatcher(a=a_lines, b=b_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [
                (Cell("same", [(x, False)]), Cell("same", [(x, False)])) for x in a_lines[i1:i2]
            ]
            continue
        for old, new in zip_longest(a_lines[i1:i2], b_lines[j1:j2]):
            if old is not None and new is not None:
                left, right = _words(old, new)
                rows.append((Cell("del", left), Cell("add", right)))
            elif old is not None:
                rows.append((Cell("del", [(old, True)]), Cell("empty", [])))
            else:
                rows.append((Cell("empty", []), Cell("add", [(new or "", True)])))
    return rows


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields that differ between two contents, each with its side-by-side rows."""
    changed = []
    for name, label in FIELD_LABELS.items():
        a, b = field_text(old, name), field_text(new, name)
        if a != b:
            changed.append({"name": name, "label": label, "rows": side_by_side(a, b)})
    return changed
