"""Read and write article files: YAML front matter plus Issue, Also reported as (optional),
Cause, Resolution and Escalate when."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.articles.schemas import ArticleCreate

SECTIONS = {
    "issue": "issue",
    "also reported as": "reported_as",
    "cause": "cause",
    "resolution": "steps",
    "escalate when": "escalate_when",
}
OPTIONAL_SECTIONS = {"also reported as"}
_BULLET = re.compile(r"^\s*[-*]\s+(.*)$")
_STEP = re.compile(r"^\s*\d+[.)]\s+(.*)$")
_TIER2 = re.compile(r"^\[tier2(?::\s*([^\]]*))?\]\s*", re.IGNORECASE)
FRONT_FIELDS = {
    "id",
    "title",
    "modality",
    "manufacturer",
    "models",
    "software_versions",
    "error_codes",
    "tags",
    "author",
}


class ArticleFileError(ValueError):
    """A problem in one article file, with where it is."""

    def __init__(self, path: Path, line: int, field: str, message: str) -> None:
        super().__init__(f"{path}:{line}: {field}: {message}")
        self.path, self.line, self.field, self.message = path, line, field, message


def parse_file(path: Path) -> ArticleCreate:
    """Parse and validate one article file (status: published)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ArticleFileError(path, 1, "(file)", "not UTF-8 text") from exc
    return parse_text(text, path)


def parse_text(text: str, path: Path) -> ArticleCreate:
    """Parse article text; errors name the file, line and field at fault."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ArticleFileError(path, 1, "(front matter)", "file must start with a '---' line")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise ArticleFileError(path, 1, "(front matter)", "no closing '---' line") from None
    try:
        front = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        # the context mark is where the broken construct starts (e.g. an unclosed list)
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark else 2
        raise ArticleFileError(path, line, "(front matter)", f"invalid YAML: {exc}") from exc
    if not isinstance(front, dict):
        raise ArticleFileError(path, 2, "(front matter)", "front matter must be a mapping")

    def front_line(key: str) -> int:
        for i in range(1, end):
            if re.match(rf"^{re.escape(key)}\s*:", lines[i]):
                return i + 1
        return 1

    unknown = set(front) - FRONT_FIELDS
    if unknown:
        key = sorted(unknown)[0]
        raise ArticleFileError(
            path, front_line(key), key, f"unknown field; use {sorted(FRONT_FIELDS)}"
        )
    sections, section_lines = _sections(lines, end + 1, path)
    missing = [n for n in SECTIONS if n not in sections and n not in OPTIONAL_SECTIONS]
    if missing:
        raise ArticleFileError(
            path, end + 2, missing[0], f"missing section '## {missing[0].capitalize()}'"
        )
    steps, step_lines = _steps(sections["resolution"], section_lines["resolution"], path)
    phrasings, phrasing_lines = _bullets(
        sections.get("also reported as", []), section_lines.get("also reported as", 0), path
    )
    record: dict[str, Any] = {k: v for k, v in front.items() if k != "id"}
    for key in ("models", "software_versions", "error_codes", "tags"):
        # YAML reads "7.2" or 64 as numbers; these fields are text
        if isinstance(record.get(key), list):
            record[key] = [str(v) if isinstance(v, int | float) else v for v in record[key]]
    if "id" in front:
        record["slug"] = front["id"]
    record["issue"] = _paragraph(sections["issue"])
    record["reported_as"] = phrasings
    record["cause"] = _paragraph(sections["cause"])
    record["escalate_when"] = "\n".join(x.rstrip() for x in sections["escalate when"]).strip()
    record["steps"] = steps
    record["status"] = "published"
    try:
        article = ArticleCreate.model_validate(record)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"]]
        name = "id" if loc[0] == "slug" else loc[0]
        if name == "steps" and len(loc) > 1 and loc[1].isdigit():
            line = step_lines[int(loc[1])]
        elif name == "reported_as" and len(loc) > 1 and loc[1].isdigit():
            line = phrasing_lines[int(loc[1])]
        elif name in SECTIONS.values():
            key = next(k for k, v in SECTIONS.items() if v == name)
            line = section_lines[key]
        else:
            line = front_line(name)
        raise ArticleFileError(path, line, ".".join(loc), first["msg"]) from exc
    if article.slug and article.slug != path.stem:
        raise ArticleFileError(
            path, front_line("id"), "id", f"must equal the file name {path.stem!r}"
        )
    return article


def _sections(
    lines: list[str], start: int, path: Path
) -> tuple[dict[str, list[str]], dict[str, int]]:
    sections: dict[str, list[str]] = {}
    where: dict[str, int] = {}
    current: str | None = None
    for i in range(start, len(lines)):
        heading = re.match(r"^##\s+(.+?)\s*$", lines[i])
        if heading:
            name = heading.group(1).strip().lower()
            if name not in SECTIONS:
                raise ArticleFileError(
                    path, i + 1, "(section)", f"unknown section {heading.group(1)!r}"
                )
            if name in sections:
                raise ArticleFileError(path, i + 1, "(section)", f"section {name!r} twice")
            current = name
            sections[name] = []
            where[name] = i + 1
        elif current is not None:
            sections[current].append(lines[i])
        elif lines[i].strip():
            raise ArticleFileError(path, i + 1, "(body)", "text before the first '## ' section")
    return sections, where


def _paragraph(lines: list[str]) -> str:
    return "\n".join(x.rstrip() for x in lines).strip()


def _items(
    lines: list[str], heading_line: int, path: Path, marker: re.Pattern[str], field: str, form: str
) -> tuple[list[str], list[int]]:
    """A list section's items (a line matching `marker` starts one, an indented line
    continues it) and the line each starts on."""
    items: list[str] = []
    where: list[int] = []
    for offset, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        match = marker.match(raw)
        if match:
            items.append(match.group(1).strip())
            where.append(heading_line + offset)
        elif items and raw.startswith((" ", "\t")):
            items[-1] += " " + raw.strip()
        else:
            raise ArticleFileError(path, heading_line + offset, field, form)
    return items, where


def _bullets(lines: list[str], heading_line: int, path: Path) -> tuple[list[str], list[int]]:
    return _items(
        lines, heading_line, path, _BULLET, "reported_as", "each phrasing must be a '- ' line"
    )


def _steps(
    lines: list[str], heading_line: int, path: Path
) -> tuple[list[dict[str, Any]], list[int]]:
    texts, where = _items(
        lines, heading_line, path, _STEP, "steps", "each step must be a numbered line ('1. ...')"
    )
    steps: list[dict[str, Any]] = []
    for text in texts:
        step: dict[str, Any] = {"text": text, "tier1_allowed": True, "restriction": None}
        tier2 = _TIER2.match(text)
        if tier2:
            step["tier1_allowed"] = False
            step["restriction"] = (tier2.group(1) or "").strip() or None
            step["text"] = text[tier2.end() :].strip()
        steps.append(step)
    return steps, where


def render(article: dict[str, Any]) -> str:
    """An article as file text (the inverse of `parse_text`)."""
    front = {
        "id": article["slug"],
        "title": article["title"],
        "modality": article["modality"],
        "manufacturer": article.get("manufacturer"),
        "models": article.get("models", []),
        "software_versions": article.get("software_versions", []),
        "error_codes": article.get("error_codes", []),
        "tags": article.get("tags", []),
        "author": article.get("author"),
    }
    front = {k: v for k, v in front.items() if v is not None}
    out = ["---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip(), "---", ""]
    out += ["## Issue", article["issue"], ""]
    if article.get("reported_as"):
        out += ["## Also reported as", *(f"- {p}" for p in article["reported_as"]), ""]
    out += ["## Cause", article.get("cause", ""), ""]
    out.append("## Resolution")
    for n, step in enumerate(article["steps"], start=1):
        mark = ""
        if not step.get("tier1_allowed", True):
            reason = step.get("restriction")
            mark = f"[tier2: {reason}] " if reason else "[tier2] "
        out.append(f"{n}. {mark}{step['text']}")
    out += ["", "## Escalate when", article.get("escalate_when", ""), ""]
    return "\n".join(out)
