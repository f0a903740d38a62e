"""The escalation package: built once from the call, never changed, rendered twice."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.articles.models import Article
from app.assets.models import Asset, Site
from app.attachments import service as attachment_service
from app.auth.models import Person
from app.calls import similar
from app.calls.history import repeat_fault, scanner_history
from app.calls.models import DETAIL_FIELDS, Call, CallEvent, Escalation, EventKind, Urgency
from app.calls.package_schemas import (
    EscalationPackage,
    PackageArticleAttempt,
    PackageAttachment,
    PackageCaller,
    PackageContact,
    PackageDetails,
    PackageNote,
    PackagePerson,
    PackageResult,
    PackageScanner,
    PackageSearch,
    PackageSite,
    PackageSuggestion,
    PackageTarget,
)
from app.calls.schemas import EscalateRequest
from app.contacts import service as contact_service
from app.search.index import ArticleIndex

_CODE_LIKE = re.compile(r"\b[A-Z]{1,4}[- ]?\d{2,5}\b")


def _person(p: Person | None) -> PackagePerson | None:
    return PackagePerson(id=p.id, name=p.name, phone=p.phone, email=p.email) if p else None


def error_codes_in(index: ArticleIndex, texts: Sequence[str]) -> list[str]:
    """Error codes mentioned: known ones (any spelling) and other code-like tokens."""
    found: dict[str, None] = {}
    for text in texts:
        found.update(dict.fromkeys(index.error_codes_in(text)))
        for token in _CODE_LIKE.findall(text):
            if not any(token.replace(" ", "-") == c or token == c for c in found):
                found[token] = None
    return list(found)


def _site(site: Site | None) -> PackageSite | None:
    if site is None:
        return None
    return PackageSite(
        id=site.id,
        hospital=site.hospital,
        department=site.department,
        address=site.address,
        main_phone=site.main_phone,
    )


def _scanner(asset: Asset | None) -> PackageScanner | None:
    if asset is None:
        return None
    return PackageScanner(
        id=asset.id,
        modality=asset.modality,
        manufacturer=asset.manufacturer,
        model=asset.model,
        serial_number=asset.serial_number,
        software_version=asset.software_version,
        room=asset.room,
    )


def _best_untried(
    searches: Sequence[CallEvent], attempts: Sequence[CallEvent]
) -> list[PackageSuggestion]:
    """The three best-scored articles shown during the call and never tried."""
    tried_ids = {e.data["article_id"] for e in attempts}
    best: dict[int, PackageSuggestion] = {}
    for e in searches:
        for r in e.data.get("results", []):
            known = best.get(r["article_id"])
            if r["article_id"] not in tried_ids and (known is None or r["score"] > known.score):
                fields = {k: r[k] for k in ("article_id", "slug", "title", "score")}
                best[r["article_id"]] = PackageSuggestion(**fields)
    return sorted(best.values(), key=lambda r: -r.score)[:3]


def _search(e: CallEvent) -> PackageSearch:
    return PackageSearch(
        at=e.at,
        query=e.data["query"],
        filters=e.data.get("filters", {}),
        match=e.data.get("match"),
        top_results=[PackageResult.model_validate(r) for r in e.data.get("results", [])[:5]],
    )


def _attempt(e: CallEvent, steps: dict[int, list[str]]) -> PackageArticleAttempt:
    step = e.data.get("step")
    texts = steps.get(e.data["article_id"], [])
    return PackageArticleAttempt(
        at=e.at,
        article_id=e.data["article_id"],
        title=e.data["title"],
        step=step,
        step_text=texts[step - 1] if step and step <= len(texts) else None,
        outcome=e.data["outcome"],
        note=e.data.get("note", ""),
    )


def _step_texts(session: Session, attempts: Sequence[CallEvent]) -> dict[int, list[str]]:
    """The steps' words of the articles tried, by article id."""
    ids = {e.data["article_id"] for e in attempts}
    if not ids:
        return {}
    found = session.scalars(select(Article).where(Article.id.in_(ids)))
    return {a.id: [s["text"] for s in a.steps] for a in found}


def _checked(a: PackageArticleAttempt) -> str:
    """One line of what the caller already tried, so tier 2 does not ask again."""
    step = ""
    if a.step:
        step = f" (step {a.step}: {a.step_text})" if a.step_text else f" (step {a.step})"
    note = f" — {a.note}" if a.note else ""
    return f"{a.title}{step}: {a.outcome.replace('_', ' ')}{note}"


def _attachments(session: Session, call: Call) -> list[PackageAttachment]:
    """The files on the call, oldest first."""
    return [
        PackageAttachment(
            id=a.id,
            filename=a.filename,
            content_type=a.content_type,
            size=a.size,
            sha256=a.sha256,
            description=a.description,
            uploaded_by=name,
            uploaded_at=a.uploaded_at,
            download_path=attachment_service.download_path(call.id, a.id),
        )
        for a, name in attachment_service.listed(session, call.id)
    ]


def build_package(
    *,
    session: Session,
    index: ArticleIndex,
    call: Call,
    escalation: Escalation,
    data: EscalateRequest,
    by: Person,
    target: Person | None,
    minutes: int,
) -> EscalationPackage:
    """Assemble the immutable transfer package from the call as it stands."""
    asset = session.get(Asset, call.asset_id) if call.asset_id else None
    site = session.get(Site, call.site_id) if call.site_id else None
    events = session.scalars(
        select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.id)
    ).all()
    searches = [e for e in events if e.kind == EventKind.SEARCHED]
    attempts = [e for e in events if e.kind == EventKind.STEP_TRIED]
    notes = [e for e in events if e.kind == EventKind.NOTE]
    files = _attachments(session, call)
    texts = [call.symptom] + [n.data["text"] for n in notes] + [s.data["query"] for s in searches]
    texts += [f.description for f in files]  # "screenshot of HV-417"
    primary = _person(asset.primary_engineer if asset else None)
    steps = _step_texts(session, attempts)
    tried = [_attempt(e, steps) for e in attempts]
    return EscalationPackage(
        call_id=call.id,
        escalation_id=escalation.id,
        created_at=escalation.created_at,
        escalated_by=PackagePerson(id=by.id, name=by.name, phone=by.phone, email=by.email),
        caller=PackageCaller(name=call.caller_name, callback_number=call.callback_number),
        site=_site(site),
        asset=_scanner(asset),
        modality=call.modality,
        primary_engineer=primary,
        symptom=call.symptom,
        error_codes=error_codes_in(index, texts),
        urgency=Urgency(escalation.urgency),
        patient_impact=call.patient_impact,
        reason=data.reason,
        safety_event=data.safety,
        target=PackageTarget(engineer=_person(target), queue=data.queue, inform=primary),
        searches=[_search(e) for e in searches],
        attempts=tried,
        already_checked=[_checked(a) for a in tried],
        best_untried=_best_untried(searches, attempts),
        notes=[PackageNote(at=n.at, author=n.actor_name, text=n.data["text"]) for n in notes],
        time_on_call_seconds=int((escalation.created_at - call.opened_at).total_seconds()),
        response_due_by=escalation.due_at,
        response_target_minutes=minutes,
        details=PackageDetails(**{name: getattr(call, name) for name in DETAIL_FIELDS}),
        scanner_history=scanner_history(session, call),
        repeat_fault=repeat_fault(session, call),
        attachments=files,
        contacts=[
            PackageContact(
                owner=c.owner.name,
                number=c.number,
                scheduled_for=c.scheduled_for,
                made_at=c.made_at,
                outcome=c.outcome,
                notes=c.notes,
            )
            for c in contact_service.contact_log(session=session, call_id=call.id)
        ],
        similar_calls=similar.for_call(session=session, index=index, call=call, limit=3),
    )


def _site_line(p: EscalationPackage) -> str:
    if p.site is None:
        return "**Site:** —"
    return f"**Site:** {p.site.hospital} {p.site.department}".rstrip()


def _scanner_line(p: EscalationPackage) -> str:
    a = p.asset
    # the caller's reading of the version is newer than the asset register's
    told = p.details.software_version if p.details else ""
    if a is None:
        return f"**Scanner:** {p.modality or '—'}   SN — SW {told or '—'} room —"
    return (
        f"**Scanner:** {a.modality} {a.manufacturer} {a.model} SN {a.serial_number} "
        f"SW {told or a.software_version or '—'} room {a.room or '—'}"
    )


DETAIL_LABELS = (
    ("site_contact", "Site contact"),
    ("screen_message", "The screen says"),
    ("started", "Started"),
    ("recent_changes", "Changed recently"),
    ("system_state", "System state"),
)


def _details(p: EscalationPackage) -> list[str]:
    """The caller's details that were given, one line each."""
    if p.details is None:
        return []
    lines = [
        f"**{label}:** {getattr(p.details, name)}"
        for name, label in DETAIL_LABELS
        if getattr(p.details, name)
    ]
    if p.details.patient_on_table:
        lines.append("**PATIENT ON THE TABLE**")
    return lines


def _history(p: EscalationPackage) -> list[str]:
    """The scanner's recent calls, the repeat fault flagged."""
    if not p.scanner_history:
        return []
    head = "## This scanner's recent calls" + (" — REPEAT FAULT" if p.repeat_fault else "")
    lines = ["", head]
    for c in p.scanner_history:
        how = c.fixed_by_title or c.resolution_reason or c.resolution_notes or str(c.state)
        lines.append(f"- {c.opened_at:%Y-%m-%d} call {c.id}: {c.symptom} → {how}")
    return lines


def _similar(p: EscalationPackage) -> list[str]:
    """Resolved calls like this one, with what fixed each."""
    if not p.similar_calls:
        return []
    lines = ["", "## Similar past calls"]
    for c in p.similar_calls:
        fix = c.fix
        how = fix.title or fix.resolution_notes or (fix.resolution_reason or "").replace("_", " ")
        where = " ".join(x for x in (c.scanner.manufacturer, c.scanner.model) if x)
        lines.append(
            f"- call {c.id} ({c.ring}: {where or c.scanner.modality or '—'}, "
            f"{c.resolved_at:%Y-%m-%d}): {c.symptom} → {how or 'resolved'}"
        )
    return lines


def _size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 1_000_000 else f"{max(size // 1000, 1)} kB"


def _attached(p: EscalationPackage) -> list[str]:
    """The files on the call, with where to fetch them."""
    if not p.attachments:
        return []
    lines = ["", "## Attachments"]
    for a in p.attachments:
        about = f" — {a.description}" if a.description else ""
        lines.append(
            f"- {a.filename} ({a.content_type}, {_size(a.size)}, by {a.uploaded_by})"
            f"{about}: {a.download_path}"
        )
    return lines


def render_brief(package: EscalationPackage) -> str:
    """One screen of plain text / Markdown for the tier-2 engineer."""
    p = package
    primary = p.primary_engineer
    lines = [
        f"# Call {p.call_id} — {p.urgency.replace('_', ' ').upper()}"
        + (" — PATIENT IMPACT" if p.patient_impact else ""),
        f"Respond by {p.response_due_by:%Y-%m-%d %H:%M} UTC "
        f"({p.response_target_minutes} min target)",
        "",
        f"**Caller:** {p.caller.name}, callback {p.caller.callback_number or '—'}",
        _site_line(p),
        _scanner_line(p),
        f"**Primary engineer:** {primary.name if primary else '—'}"
        + (f" ({primary.phone})" if primary and primary.phone else ""),
        "",
        f"**Symptom (caller's words):** {p.symptom}",
        f"**Error codes:** {', '.join(p.error_codes) or 'none mentioned'}",
        f"**Why escalated:** {p.reason}",
        *_details(p),
    ]
    if p.safety_event:
        lines.append(f"**SAFETY:** {p.safety_event.kind}: {p.safety_event.reason}")
    lines += ["", "## Already checked — don't ask again"]
    lines += [f"- {c}" for c in p.already_checked] or ["- nothing tried yet"]
    lines += ["", "## Best untried suggestions"]
    lines += [f"- {b.title} (#{b.article_id}, score {b.score:.2f})" for b in p.best_untried] or [
        "- none"
    ]
    lines += ["", "## Searches"]
    lines += [
        f'- "{s.query}" → ' + ", ".join(r.title for r in s.top_results[:3]) for s in p.searches
    ] or ["- none"]
    lines += _history(p)
    lines += _similar(p)
    lines += _attached(p)
    if p.notes:
        lines += ["", "## Dispatcher notes"] + [f"- {n.author}: {n.text}" for n in p.notes]
    minutes = p.time_on_call_seconds // 60
    lines += ["", f"Escalated by {p.escalated_by.name} after {minutes} min on the call."]
    return "\n".join(lines) + "\n"
