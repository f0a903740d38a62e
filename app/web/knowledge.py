"""The engineer's knowledge screens: list, edit, preview, publish, versions, gaps."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import zip_longest
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from app.articles import service
from app.articles.models import Article, ArticleStatus, Modality
from app.articles.schemas import ArticleContent, ArticleCreate, ArticleUpdate
from app.auth.permissions import P
from app.calls import reuse
from app.deps import Route
from app.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from app.schemas import DbId
from app.web.deps import Console, console
from app.web.render import field_errors, page, redirect

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=Route)
Writer = Annotated[Console, console(P.ARTICLES_WRITE)]
WriterPost = Annotated[Console, console(P.ARTICLES_WRITE, write=True)]
PublisherPost = Annotated[Console, console(P.ARTICLES_WRITE, P.ARTICLES_PUBLISH, write=True)]
VersionField = Annotated[str, Form(max_length=20)]

PAGE_SIZE = 25
EMPTY_STEP_ROWS = 2
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
DONE = {
    "created": "Draft created. Dispatchers do not see it until it is published.",
    "saved": "Saved as a new version.",
    "unchanged": "Nothing changed, so no new version was saved.",
    "published": "Published: dispatchers find it from now on.",
    "archived": "Archived: it left search at once.",
    "restored": "Restored as a new version.",
}
_STEP_KEY = re.compile(r"^steps-(\d{1,3})-(text|tier2|restriction)$")
_LIST_ITEM = re.compile(r"^(models|software_versions|error_codes|tags)\.(\d+)$")
_LINE_ITEM = re.compile(r"^(reported_as)\.(\d+)$")
_STEP_ERROR = re.compile(r"^steps\.(\d+)(?:\.(text|restriction|tier1_allowed))?$")


async def _posted(request: Request) -> FormData:
    # the steps editor posts numbered names (steps-<i>-text), so the whole form is read
    return await request.form()


Posted = Annotated[FormData, Depends(_posted)]


def _flash(done: str | None) -> dict[str, Any]:
    return {"flash": DONE[done]} if done in DONE else {}


def _version(raw: str) -> int | None:
    """A posted version number, or None when the field is missing or not a number."""
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


# -- forms: what the engineer typed <-> article content ----------------------------------


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    # browsers post textarea line breaks as CRLF: unchanged text must compare equal
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else ""


def read_form(form: FormData) -> dict[str, Any]:
    """The article fields exactly as typed, steps in posted order, empty step rows dropped."""
    values: dict[str, Any] = {name: _text(form, name).strip() for name in TEXT_FIELDS}
    values |= {name: _text(form, name) for name in LIST_FIELDS + LINE_FIELDS}
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


def form_errors(exc: InvalidInput | ValidationError) -> dict[str, str]:
    """Errors keyed by the id of the form control at fault, in words an engineer reads."""
    out: dict[str, str] = {}
    for name, message in field_errors(exc).items():
        message = message.removeprefix("Value error, ")
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


# -- pages -------------------------------------------------------------------------------


def _edit_page(
    ui: Console,
    article: Article | None,
    form: dict[str, Any],
    errors: dict[str, str],
    *,
    status: int = 200,
    based_on: int | None = None,
    **context: Any,
) -> Response:
    title = f"Edit: {article.title}" if article else "New article"
    return page(
        ui.request,
        "knowledge/edit.html",
        ui.signed,
        status=status,
        section="articles",
        title=title,
        article=article,
        form=form,
        errors=errors,
        based_on=based_on if based_on is not None else (article.version if article else None),
        modalities=MODALITY_CHOICES,
        empty_rows=EMPTY_STEP_ROWS,
        **context,
    )


def _article_page(ui: Console, article_id: int, *, status: int = 200, **context: Any) -> Response:
    article = service.get(session=ui.session, ref=article_id)
    return page(
        ui.request,
        "knowledge/article.html",
        ui.signed,
        status=status,
        section="articles",
        title=article.title,
        article=article,
        stats=reuse.article_stats(session=ui.session, article_id=article.id),
        allowed=service.LIFECYCLE.allowed(ArticleStatus(article.status)),
        **context,
    )


@router.get("/articles")
def article_list(
    ui: Writer,
    q: Annotated[str, Query(max_length=200)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    modality: Annotated[str, Query(max_length=4)] = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    """The library, filtered by text in the title, status and modality, a page at a time."""
    chosen_status = ArticleStatus(status) if status in set(ArticleStatus) else None
    chosen_modality = modality if modality in set(Modality) else None
    items, total = service.list(
        session=ui.session,
        status=chosen_status,
        modality=chosen_modality,
        q=q.strip() or None,
        limit=PAGE_SIZE,
        offset=(page_no - 1) * PAGE_SIZE,
    )
    pages = max(1, -(-total // PAGE_SIZE))
    filters = {"q": q.strip(), "status": chosen_status or "", "modality": chosen_modality or ""}

    def link(n: int) -> str:
        kept = {k: v for k, v in filters.items() if v}
        return "/ui/articles?" + urlencode({**kept, "page": n})

    return page(
        ui.request,
        "knowledge/list.html",
        ui.signed,
        section="articles",
        title="Knowledge",
        items=items,
        total=total,
        page_no=page_no,
        pages=pages,
        prev_link=link(page_no - 1) if page_no > 1 else None,
        next_link=link(page_no + 1) if page_no < pages else None,
        filters=filters,
        statuses=list(ArticleStatus),
        modalities=MODALITY_CHOICES,
    )


@router.get("/articles/new")
def new_article(
    ui: Writer,
    title: Annotated[str, Query(max_length=200)] = "",
    issue: Annotated[str, Query(max_length=4000)] = "",
    modality: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    """The editor for a new draft, optionally prefilled (from a knowledge gap)."""
    form = form_from_content(
        {"title": title, "issue": issue, "modality": modality if modality in set(Modality) else ""}
    )
    return _edit_page(ui, None, form, {})


@router.post("/articles")
def create_article(ui: WriterPost, posted: Posted) -> Response:
    """Save a new draft and show it as a dispatcher would see it."""
    values = read_form(posted)
    author = ui.signed.principal.name
    try:
        data = ArticleCreate.model_validate(
            content_from_form(values) | {"status": "draft", "author": author}
        )
        article = service.create(session=ui.session, data=data, actor=author, indexer=ui.index)
    except (InvalidInput, ValidationError) as exc:
        ui.session.rollback()
        return _edit_page(ui, None, values, form_errors(exc), status=422)
    return redirect(ui.request, f"/ui/articles/{article.id}?done=created")


@router.get("/articles/{article_id}")
def article_screen(article_id: DbId, ui: Writer, done: str | None = None) -> Response:
    """The article as a dispatcher sees it, its figures on calls, and what can be done."""
    return _article_page(ui, article_id, **_flash(done))


@router.get("/articles/{article_id}/edit")
def edit_article(article_id: DbId, ui: Writer) -> Response:
    """Every KCS field of the current version, with an ordered steps editor."""
    article = service.get(session=ui.session, ref=article_id)
    return _edit_page(ui, article, form_from_content(service.content_of(article)), {})


def _merge(
    base: dict[str, Any] | None, theirs: dict[str, Any], yours: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Theirs where only they changed a field, yours otherwise; notes on fields both changed."""
    merged = dict(yours)
    notes: dict[str, str] = {}
    for name in FIELD_LABELS:
        if theirs[name] == yours[name]:
            continue
        if base is not None and yours[name] == base[name]:
            merged[name] = theirs[name]
            notes[name] = "taken from the saved version: only they changed this"
        elif base is not None and theirs[name] == base[name]:
            notes[name] = "your change, kept: they did not change this"
        else:
            notes[name] = "you both changed this: your text is in the form, compare with theirs"
    return merged, notes


def _conflict_page(ui: Console, article_id: int, based_on: int, yours: dict[str, Any]) -> Response:
    """A stale edit: both versions side by side and the edit re-based on the current one."""
    session = ui.session
    article = service.get(session=session, ref=article_id)
    theirs = normalised(service.content_of(article))
    try:
        base: dict[str, Any] | None = normalised(
            service.get_version(session=session, ref=article_id, version=based_on).content
        )
    except NotFound:
        base = None
    merged, notes = _merge(base, theirs, yours)
    newer = [
        v for v in service.list_versions(session=session, ref=article_id) if v.version > based_on
    ]
    return _edit_page(
        ui,
        article,
        form_from_content(merged),
        {},
        status=409,
        based_on=article.version,
        conflict={
            "based_on": based_on,
            "differences": compare(theirs, yours),
            "notes": notes,
            "newer": newer,
        },
    )


@router.post("/articles/{article_id}/edit")
def save_article(article_id: DbId, ui: WriterPost, posted: Posted) -> Response:
    """Save the edit as a new version; a stale edit gets the conflict page, never a save."""
    article = service.get(session=ui.session, ref=article_id)
    values = read_form(posted)
    based_on = _version(_text(posted, "version"))
    if based_on is None:
        raise InvalidInput(
            "the form did not say which version it edited: open the editor again",
            errors=[{"field": "version", "message": "missing"}],
        )
    try:
        data = ArticleUpdate.model_validate({"version": based_on, **content_from_form(values)})
        yours = normalised(data.model_dump(exclude={"version"}, mode="json"))
    except ValidationError as exc:
        return _edit_page(ui, article, values, form_errors(exc), status=422, based_on=based_on)
    if based_on != article.version and service.content_hash(yours) == article.content_hash:
        # someone already saved exactly this: nothing of the engineer's is lost
        return redirect(ui.request, f"/ui/articles/{article_id}?done=unchanged")
    try:
        saved = service.update(
            session=ui.session,
            ref=article_id,
            data=data,
            actor=ui.signed.principal.name,
            indexer=ui.index,
        )
    except Conflict:
        ui.session.rollback()
        return _conflict_page(ui, article_id, based_on, yours)
    done = "saved" if saved.version != based_on else "unchanged"
    return redirect(ui.request, f"/ui/articles/{article_id}?done={done}")


def _change(
    ui: Console, change: Callable[..., Article], article_id: int, on_screen: str, **what: Any
) -> Article:
    """Apply a service change as the engineer, to the version on screen (rolled back if refused)."""
    try:
        return change(
            session=ui.session,
            ref=article_id,
            actor=ui.signed.principal.name,
            indexer=ui.index,
            # the engineer changes the version on screen, not one saved since
            if_match=_version(on_screen),
            **what,
        )
    except (Conflict, PreconditionFailed):
        ui.session.rollback()
        raise


def _move(ui: Console, article_id: int, version: str, target: ArticleStatus) -> Response:
    """Publish or archive; the flash is named after the new status."""
    try:
        _change(ui, service.transition, article_id, version, target=target)
    except (Conflict, PreconditionFailed) as exc:
        return _article_page(ui, article_id, status=409, flash=exc.detail, flash_kind="error")
    return redirect(ui.request, f"/ui/articles/{article_id}?done={target.value}")


@router.post("/articles/{article_id}/publish")
def publish_article(article_id: DbId, ui: PublisherPost, version: VersionField = "") -> Response:
    """Publish the version on screen: dispatchers find it at once."""
    return _move(ui, article_id, version, ArticleStatus.PUBLISHED)


@router.post("/articles/{article_id}/archive")
def archive_article(article_id: DbId, ui: PublisherPost, version: VersionField = "") -> Response:
    """Archive: it leaves search at once."""
    return _move(ui, article_id, version, ArticleStatus.ARCHIVED)


@router.get("/articles/{article_id}/versions")
def article_versions(
    article_id: DbId,
    ui: Writer,
    a: DbId | None = None,
    b: DbId | None = None,
    done: str | None = None,
) -> Response:
    """Every version, and a side-by-side difference between two of them."""
    session = ui.session
    article = service.get(session=session, ref=article_id)
    versions = service.list_versions(session=session, ref=article_id)
    right = b or article.version
    left = a or max(1, right - 1)
    old = service.get_version(session=session, ref=article_id, version=left)
    new = service.get_version(session=session, ref=article_id, version=right)
    differences = compare(old.content, new.content)
    if old.status != new.status:
        status_rows = side_by_side(str(old.status), str(new.status))
        differences.insert(0, {"name": "status", "label": "Status", "rows": status_rows})
    return page(
        ui.request,
        "knowledge/versions.html",
        ui.signed,
        section="articles",
        title=f"Versions: {article.title}",
        article=article,
        versions=versions,
        old=old,
        new=new,
        differences=differences,
        **_flash(done),
    )


@router.post("/articles/{article_id}/versions/{version}/restore")
def restore_version(
    article_id: DbId, version: DbId, ui: WriterPost, current: VersionField = ""
) -> Response:
    """Save an old version's content as a new version (if nobody saved meanwhile)."""
    try:
        article = _change(ui, service.restore, article_id, current, version=version)
    except (Conflict, PreconditionFailed) as exc:
        raise Conflict(f"{exc.detail}. Nothing was restored.") from exc
    query = urlencode({"a": version, "b": article.version, "done": "restored"})
    return redirect(ui.request, f"/ui/articles/{article_id}/versions?{query}")


@router.get("/gaps")
def gaps_screen(ui: Writer) -> Response:
    """Searches that found nothing useful, newest first: candidate new articles."""
    threshold = ui.settings.gap_score_threshold
    rows = []
    for gap in reuse.find_gaps(session=ui.session, threshold=threshold):
        title = gap.query[:1].upper() + gap.query[1:150]
        prefill = {"title": title, "issue": gap.query[:4000]}
        if gap.modality:
            prefill["modality"] = gap.modality
        rows.append((gap, "/ui/articles/new?" + urlencode(prefill)))
    return page(
        ui.request,
        "knowledge/gaps.html",
        ui.signed,
        section="gaps",
        title="Knowledge gaps",
        rows=rows,
        threshold=threshold,
    )
