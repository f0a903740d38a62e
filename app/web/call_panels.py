"""The call screen's side panels: attachments, actions, the customer contact log."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError

from app.actions import service as action_service
from app.actions.schemas import ActionCreate
from app.attachments import service as attachment_service
from app.attachments.content import served_as
from app.attachments.router import content_disposition
from app.auth import service as auth_service
from app.auth.models import Person
from app.auth.permissions import P
from app.auth.service import Principal
from app.calls import service as call_service
from app.calls import work
from app.contacts import service as contact_service
from app.contacts.models import ContactOutcome
from app.contacts.schemas import ContactRead
from app.db import utcnow
from app.deps import Route
from app.errors import DomainError, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from app.schemas import DbId
from app.web import similar_calls
from app.web.deps import Console, console
from app.web.render import field_errors, is_partial, redirect, templates

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=Route)
Reader = Annotated[Console, console(P.CALLS_READ)]
Noter = Annotated[Console, console(P.CALLS_NOTE, write=True)]
Assigner = Annotated[Console, console(P.ACTIONS_ASSIGN, write=True)]
ActionWorker = Annotated[Console, console(P.ACTIONS_WORK, write=True)]

Short = Annotated[str, Form(max_length=200)]
Text = Annotated[str, Form(max_length=4000)]
Stamp = Annotated[str, Form(max_length=40)]
Version = Annotated[int | None, Form()]

DONE = {
    "attached": ("attachments", "File attached."),
    "assigned": ("actions", "Action assigned."),
    "acknowledged": ("actions", "Action acknowledged."),
    "completed": ("actions", "Action completed."),
    "cancelled": ("actions", "Action cancelled."),
    "scheduled": ("contacts", "Callback scheduled."),
    "logged": ("contacts", "Call to the customer logged."),
    "made": ("contacts", "Callback recorded as made."),
}
OUTCOMES = [
    (ContactOutcome.REACHED, "Reached"),
    (ContactOutcome.LEFT_MESSAGE, "Left a message"),
    (ContactOutcome.NO_ANSWER, "No answer"),
]
TYPE_NAMES = {
    "image/png": "PNG image",
    "image/jpeg": "JPEG image",
    "image/gif": "GIF image",
    "image/webp": "WebP image",
    "application/pdf": "PDF",
    "application/zip": "ZIP archive",
    "application/gzip": "gzip archive",
    "text/plain": "text",
}
# UTC offsets in use somewhere, in minutes; the script picks the one of the chosen date
_MINUTES = sorted([h * 60 for h in range(-12, 15)] + [-570, -210, 210, 270, 330, 345, 390, 525])
OFFSETS = [f"{'-' if m < 0 else '+'}{abs(m) // 60:02d}:{abs(m) % 60:02d}" for m in _MINUTES]
_OFFSET = re.compile(r"[+-]\d{2}:\d{2}")


# -- what the panels show -------------------------------------------------------------------


@dataclass
class Problem:
    """A panel form that was refused: which form, why, each field's error, what was typed."""

    form: str
    status: int
    message: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    panel: str = ""


def _span(seconds: int) -> str:
    if seconds < 60:
        return "less than a minute"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{seconds // 86400} d"


def due_words(when: datetime, now: datetime) -> str:
    """ "due in 3 h" or "overdue by 20 min": how far off a due time is, in words."""
    seconds = int((when - now).total_seconds())
    return f"due in {_span(seconds)}" if seconds >= 0 else f"overdue by {_span(-seconds)}"


def size_words(size: int) -> str:
    """A file size for people: 512 bytes, 12 KB, 3.4 MB."""
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.0f} KB"
    return f"{size / 1_000_000:.1f} MB"


class Panels:
    """What the panels show for one call, read only when a template asks for it (the live
    results' fragments share the call screen's context and never do)."""

    def __init__(self, ui: Console, call_id: int) -> None:
        self.ui = ui
        self.call_id = call_id
        self.problem: Problem | None = getattr(ui.request.state, "panel_problem", None)
        done = getattr(ui.request.state, "panel_done", None) or ui.request.query_params.get(
            "panel_done"
        )
        self.done: tuple[str, str] | None = DONE.get(done or "")
        self.offsets = OFFSETS
        self.outcomes = OUTCOMES
        self.max_bytes = size_words(ui.settings.max_attachment_bytes)

    @property
    def me(self) -> Principal:
        return self.ui.signed.principal

    def message(self, panel: str) -> str:
        """The panel's last success, for its status line."""
        return self.done[1] if self.done and self.done[0] == panel else ""

    def error(self, form: str, name: str = "") -> str:
        """The error of a field (or, with no name, of the whole form) of a refused form."""
        if self.problem is None or self.problem.form != form:
            return ""
        return self.problem.errors.get(name, "") if name else self.problem.message

    def value(self, form: str, name: str, default: str = "") -> str:
        """What was typed in a refused form, so it is not lost."""
        if self.problem is None or self.problem.form != form:
            return default
        return self.problem.values.get(name, default)

    def alert(self, panel: str) -> str:
        """Why the panel's last form was refused, said at the top of the panel."""
        return self.problem.message if self.problem and self.problem.panel == panel else ""

    def refused(self, form: str) -> bool:
        """Whether this form was the one refused (its <details> opens)."""
        return self.problem is not None and self.problem.form == form

    @cached_property
    def may_write(self) -> bool:
        """Whether the signed-in person may write on the call (the services' own rule)."""
        call = call_service.get(session=self.ui.session, call_id=self.call_id)
        try:
            work.check_may_write(self.ui.session, call, self.me, "write on it")
        except Forbidden:
            return False
        return self.me.person_id is not None

    @cached_property
    def attachments(self) -> list[dict[str, Any]]:
        rows = attachment_service.list_for_call(session=self.ui.session, call_id=self.call_id)
        return [
            {
                **attachment_service.view(a, name),
                "type_name": TYPE_NAMES.get(a.content_type, a.content_type),
                "size_words": size_words(a.size),
                "href": f"/ui/calls/{a.call_id}/attachments/{a.id}",
            }
            for a, name in rows
        ]

    @cached_property
    def actions(self) -> list[dict[str, Any]]:
        now, me = utcnow(), self.me
        rows = action_service.list_actions(session=self.ui.session, call_id=self.call_id, limit=200)
        out = []
        for action in rows:
            live = action.state in action_service.LIVE_STATES
            out.append(
                {
                    **action_service.view(action),
                    "due_words": due_words(action.due_at, now) if live else "",
                    "may_work": me.can(P.ACTIONS_WORK)
                    and (me.person_id == action.assignee_id or me.is_admin),
                    "may_cancel": me.can(P.ACTIONS_WORK)
                    and (me.person_id == action.assigned_by or me.is_admin),
                }
            )
        return out

    @cached_property
    def contacts(self) -> list[dict[str, Any]]:
        now = utcnow()
        log = contact_service.contact_log(session=self.ui.session, call_id=self.call_id)
        return [self._contact(c, now) for c in log]

    @staticmethod
    def _contact(c: ContactRead, now: datetime) -> dict[str, Any]:
        when = c.scheduled_for if c.made_at is None else None
        return {
            **c.model_dump(),
            "outcome_words": dict(OUTCOMES).get(c.outcome, "") if c.outcome else "",
            "due_words": due_words(when, now) if when else "",
        }

    @cached_property
    def people(self) -> list[Person]:
        """Who can be given an action or a callback: the active people."""
        return [p for p in auth_service.list_people(session=self.ui.session) if p.active]


def context(ui: Console, call_id: int) -> dict[str, Any]:
    """What the panels show for the call (merged into the call screen's context)."""
    return {"panels": Panels(ui, call_id), **similar_calls.context(ui, call_id)}


# -- answering a panel's form ---------------------------------------------------------------


def answer(ui: Console, call_id: int, panel: str, done: str, problem: Problem | None) -> Response:
    """The script gets the panel (and the timeline) to swap in; a plain form a redirect
    back to the panel, or, when refused, the call screen with the errors at the form."""
    if problem is not None:
        ui.session.rollback()  # nothing half done stays
        problem.panel = panel
        ui.request.state.panel_problem = problem
    else:
        ui.request.state.panel_done = done
    if is_partial(ui.request):
        from app.web.calls import call_context  # the call screen imports this module

        return templates.TemplateResponse(
            ui.request,
            "calls/_panel_fragment.html",
            {
                "which": panel,
                "fragment": True,
                "csrf": ui.signed.csrf_token,
                "me": ui.signed.principal,
                "can": lambda p: ui.signed.principal.can(P(p)),
                **call_context(ui, call_id),
            },
            status_code=problem.status if problem else 200,
        )
    if problem is None:
        return redirect(ui.request, f"/ui/calls/{call_id}?panel_done={done}#panel-{panel}")
    from app.web.calls import _call_page

    response = _call_page(ui, call_id, None)
    response.status_code = problem.status
    return response


def refused(form: str, exc: DomainError | ValidationError, values: dict[str, str]) -> Problem:
    """A domain error or a schema's refusal, as the form shows it."""
    if isinstance(exc, ValidationError) or (isinstance(exc, InvalidInput) and exc.errors):
        errors = field_errors(exc)
        return Problem(form, 422, "Check the fields marked below.", errors, values)
    return Problem(form, exc.status, _in_words(exc), {}, values)


def _in_words(exc: DomainError) -> str:
    """A refusal as a sentence for the person at the screen."""
    if isinstance(exc, PayloadTooLarge):
        limit = int(exc.extra.get("max_bytes", 0))
        return f"The file is too large: a file may be at most {size_words(limit)}."
    if isinstance(exc, attachment_service.UnsupportedType):
        accepted = exc.detail.split(": ", 1)[-1]
        return f"This type of file is not accepted. Attach {accepted}."
    if exc.status == 412:
        return "This changed since the page was loaded: it is shown as it is now; try again."
    return exc.detail[:1].upper() + exc.detail[1:] + "."


def aware(local: str, offset: str, name: str, what: str) -> datetime:
    """A datetime-local field and its UTC offset, as the aware time the services want."""
    if not local.strip():
        raise InvalidInput(what, errors=[{"field": name, "message": what}])
    try:
        if not _OFFSET.fullmatch(offset):
            raise ValueError(offset)
        return datetime.fromisoformat(local.strip() + offset)
    except ValueError:
        message = "give a date and a time, and the time zone"
        raise InvalidInput(message, errors=[{"field": name, "message": message}]) from None


# -- attachments ----------------------------------------------------------------------------


@router.get("/calls/{call_id}/attachments/{attachment_id}")
def download(call_id: DbId, attachment_id: DbId, ui: Reader) -> FileResponse:
    """An attachment's bytes for the console's session, as the API serves them: always a
    download, typed from the content, never run by the browser."""
    attachment, path = attachment_service.for_download(
        session=ui.session,
        call_id=call_id,
        attachment_id=attachment_id,
        folder=attachment_service.folder_in(ui.settings.data_dir),
    )
    return FileResponse(
        path,
        media_type=served_as(attachment.content_type),
        headers={
            "Content-Disposition": content_disposition(attachment.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, no-cache",
        },
    )


@router.post("/calls/{call_id}/attachments")
def upload(
    call_id: DbId,
    ui: Noter,
    file: Annotated[UploadFile | None, File()] = None,
    description: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Attach a file (the script shows the upload's progress); a refused type, a file too
    large or an empty one is said next to the form."""
    values = {"description": description}
    if file is None or not file.filename:
        message = "choose a file to attach"
        missing = InvalidInput(message, errors=[{"field": "file", "message": message}])
        return answer(ui, call_id, "attachments", "", refused("attach", missing, values))
    try:
        attachment_service.attach(
            session=ui.session,
            call_id=call_id,
            source=file.file,
            filename=file.filename,
            description=description,
            principal=ui.signed.principal,
            folder=attachment_service.folder_in(ui.settings.data_dir),
            max_bytes=ui.settings.max_attachment_bytes,
        )
    except DomainError as exc:
        problem = refused("attach", exc, values)
        if exc.status in (413, 415):  # said at the file too, where the eye is
            problem.errors["file"], problem.message = problem.message, "The file was not attached."
        return answer(ui, call_id, "attachments", "", problem)
    return answer(ui, call_id, "attachments", "attached", None)


# -- actions --------------------------------------------------------------------------------


@router.post("/calls/{call_id}/actions")
def assign_action(
    call_id: DbId,
    ui: Assigner,
    title: Short = "",
    assignee_id: Stamp = "",
    due_at: Stamp = "",
    due_tz: Stamp = "",
    details: Text = "",
) -> Response:
    """Give a task on the call to a person, due at a time in the browser's time zone."""
    values = {"title": title, "assignee_id": assignee_id, "due_at": due_at, "due_tz": due_tz}
    values["details"] = details
    try:
        if not title.strip():
            message = "give the action a title"
            raise InvalidInput(message, errors=[{"field": "title", "message": message}])
        if not assignee_id.isdigit():
            message = "choose who does it"
            raise InvalidInput(message, errors=[{"field": "assignee_id", "message": message}])
        when = aware(due_at, due_tz, "due_at", "say when it is due")
        data = ActionCreate(title=title, details=details, assignee_id=int(assignee_id), due_at=when)
        action_service.assign(
            session=ui.session, call_id=call_id, data=data, principal=ui.signed.principal
        )
    except (ValidationError, DomainError) as exc:
        problem = refused("assign", exc, values)
        return answer(ui, call_id, "actions", "assigned", problem)
    return answer(ui, call_id, "actions", "assigned", None)


@router.post("/calls/{call_id}/actions/{action_id}/{step}")
def action_step(
    call_id: DbId,
    action_id: DbId,
    step: str,
    ui: ActionWorker,
    version: Version = None,
    result: Text = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """The assignee acknowledges or completes (with an outcome); the assigner cancels
    (with a reason)."""
    form = f"action-{action_id}"
    # "result", not "outcome": that name is the article outcomes' on the same screen
    values = {"outcome": result, "reason": reason}
    done = {"acknowledge": "acknowledged", "complete": "completed", "cancel": "cancelled"}
    try:
        action = action_service.get(session=ui.session, action_id=action_id)
        if action.call_id != call_id or step not in done:
            raise NotFound(f"call {call_id} has no action {action_id} to {step}")
        args: dict[str, Any] = {
            "session": ui.session,
            "action_id": action_id,
            "if_match": version,
            "principal": ui.signed.principal,
        }
        if step == "acknowledge":
            action_service.acknowledge(**args)
        elif step == "complete":
            action_service.complete(**args, outcome=result.strip() or None)
        else:
            if not reason.strip():
                message = "say why it is no longer needed"
                raise InvalidInput(message, errors=[{"field": "reason", "message": message}])
            action_service.cancel(**args, reason=reason.strip())
    except DomainError as exc:
        return answer(ui, call_id, "actions", "", refused(form, exc, values))
    return answer(ui, call_id, "actions", done[step], None)
