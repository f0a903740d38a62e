"""The escalation package: built once from the call, never changed, rendered twice."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assets.models import Asset, Site
from app.auth.models import Person
from app.calls.models import Call, CallEvent, Escalation, EventKind, Urgency
from app.calls.schemas import (
    EscalateRequest,
    EscalationPackage,
    PackageAttempt,
    PackagePerson,
    PackageSearch,
)
from app.search.index import ArticleIndex

_CODE_LIKE = re.compile(r"\b[A-Z]{1,4}[- ]?\d{2,5}\b")


def _package_person(p: Person | None) -> PackagePerson | None:
    return PackagePerson(id=p.id, name=p.name, phone=p.phone, email=p.email) if p else None


def _person_dict(p: Person | None) -> dict[str, Any] | None:
    found = _package_person(p)
    return found.model_dump() if found else None


def error_codes_in(index: ArticleIndex, texts: Sequence[str]) -> list[str]:
    """Error codes mentioned: known ones (any spelling) and other code-like tokens."""
    found: dict[str, None] = {}
    for text in texts:
        for codes in index.hybrid.codes.match(text).values():
            found.update(dict.fromkeys(codes))
        for token in _CODE_LIKE.findall(text):
            if not any(token.replace(" ", "-") == c or token == c for c in found):
                found[token] = None
    return list(found)


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
    tried_ids = {e.data["article_id"] for e in attempts}
    best: dict[int, dict[str, Any]] = {}
    for e in searches:
        for r in e.data.get("results", []):
            if r["article_id"] in tried_ids:
                continue
            if r["article_id"] not in best or r["score"] > best[r["article_id"]]["score"]:
                best[r["article_id"]] = {k: r[k] for k in ("article_id", "slug", "title", "score")}
    texts = [call.symptom] + [n.data["text"] for n in notes] + [s.data["query"] for s in searches]
    return EscalationPackage(
        call_id=call.id,
        escalation_id=escalation.id,
        created_at=escalation.created_at,
        escalated_by=PackagePerson(id=by.id, name=by.name, phone=by.phone, email=by.email),
        caller={"name": call.caller_name, "callback_number": call.callback_number},
        site=None
        if site is None
        else {
            "id": site.id,
            "hospital": site.hospital,
            "department": site.department,
            "address": site.address,
            "main_phone": site.main_phone,
        },
        asset=None
        if asset is None
        else {
            "id": asset.id,
            "modality": asset.modality,
            "manufacturer": asset.manufacturer,
            "model": asset.model,
            "serial_number": asset.serial_number,
            "software_version": asset.software_version,
            "room": asset.room,
        },
        modality=call.modality,
        primary_engineer=_package_person(asset.primary_engineer if asset else None),
        symptom=call.symptom,
        error_codes=error_codes_in(index, texts),
        urgency=Urgency(escalation.urgency),
        patient_impact=call.patient_impact,
        reason=data.reason,
        safety_event=data.safety,
        target={
            "engineer": _person_dict(target),
            "queue": data.queue,
            "inform": _person_dict(asset.primary_engineer if asset else None),
        },
        searches=[
            PackageSearch(
                at=e.at,
                query=e.data["query"],
                filters=e.data.get("filters", {}),
                top_results=e.data.get("results", [])[:5],
            )
            for e in searches
        ],
        attempts=[
            PackageAttempt(
                at=e.at,
                article_id=e.data["article_id"],
                title=e.data["title"],
                step=e.data.get("step"),
                outcome=e.data["outcome"],
                note=e.data.get("note", ""),
            )
            for e in attempts
        ],
        already_checked=[
            f"{e.data['title']}"
            + (f" (step {e.data['step']})" if e.data.get("step") else "")
            + f": {str(e.data['outcome']).replace('_', ' ')}"
            + (f" — {e.data['note']}" if e.data.get("note") else "")
            for e in attempts
        ],
        best_untried=sorted(best.values(), key=lambda r: -r["score"])[:3],
        notes=[
            {"at": n.at.isoformat(), "author": n.actor_name, "text": n.data["text"]} for n in notes
        ],
        time_on_call_seconds=int((escalation.created_at - call.opened_at).total_seconds()),
        response_due_by=escalation.due_at,
        response_target_minutes=minutes,
    )


def render_brief(package: EscalationPackage) -> str:
    """One screen of plain text / Markdown for the tier-2 engineer."""
    p = package
    asset = p.asset or {}
    site = p.site or {}
    lines = [
        f"# Call {p.call_id} — {p.urgency.replace('_', ' ').upper()}"
        + (" — PATIENT IMPACT" if p.patient_impact else ""),
        f"Respond by {p.response_due_by:%Y-%m-%d %H:%M} UTC "
        f"({p.response_target_minutes} min target)",
        "",
        f"**Caller:** {p.caller['name']}, callback {p.caller['callback_number'] or '—'}",
        f"**Site:** {site.get('hospital', '—')} {site.get('department', '')}".rstrip(),
        f"**Scanner:** {asset.get('modality', p.modality or '—')} {asset.get('manufacturer', '')} "
        f"{asset.get('model', '')} SN {asset.get('serial_number', '—')} "
        f"SW {asset.get('software_version') or '—'} room {asset.get('room') or '—'}",
        f"**Primary engineer:** {p.primary_engineer.name if p.primary_engineer else '—'}"
        + (
            f" ({p.primary_engineer.phone})"
            if p.primary_engineer and p.primary_engineer.phone
            else ""
        ),
        "",
        f"**Symptom (caller's words):** {p.symptom}",
        f"**Error codes:** {', '.join(p.error_codes) or 'none mentioned'}",
        f"**Why escalated:** {p.reason}",
    ]
    if p.safety_event:
        lines.append(f"**SAFETY:** {p.safety_event.kind}: {p.safety_event.reason}")
    lines += ["", "## Already checked — don't ask again"]
    lines += [f"- {c}" for c in p.already_checked] or ["- nothing tried yet"]
    lines += ["", "## Best untried suggestions"]
    lines += [
        f"- {b['title']} (#{b['article_id']}, score {b['score']:.2f})" for b in p.best_untried
    ] or ["- none"]
    lines += ["", "## Searches"]
    lines += [
        f'- "{s.query}" → ' + ", ".join(r["title"] for r in s.top_results[:3]) for s in p.searches
    ] or ["- none"]
    if p.notes:
        lines += ["", "## Dispatcher notes"] + [f"- {n['author']}: {n['text']}" for n in p.notes]
    minutes = p.time_on_call_seconds // 60
    lines += ["", f"Escalated by {p.escalated_by.name} after {minutes} min on the call."]
    return "\n".join(lines) + "\n"
