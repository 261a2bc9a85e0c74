"""Duty-log entries and their steps (rules D1, D4, D10, D11): record_entry() and
record_entry_step() validate, add and flush; the views and the sync API commit.

An entry's response clock starts when it happened (the phone's time, unless its clock was
flagged); an emergency also gets an on-scene deadline and goes straight to the supervisor
level. Steps are append-only; one made offline against an older state that no longer
applies is kept as "superseded" with the reason, as for nonconformities.
"""

from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from dutypwa.errors import DomainError
from dutypwa.escalation import escalate
from dutypwa.extensions import db
from dutypwa.facts import device_clock, moment_of, payload_hash, superseded_reason
from dutypwa.models import MANAGERS, Area, DutyEntry, DutyEntryEvent, Post, Site, User
from dutypwa.models.dutylog import ENTRY_KINDS, ENTRY_STATES, ENTRY_STEPS

KIND_LABELS = {
    "inquiry": _l("Inquiry"),
    "help": _l("Help request"),
    "complaint": _l("Complaint"),
    "repair": _l("Repair request"),
    "incident": _l("Incident"),
    "emergency": _l("Emergency"),
    "patrol_note": _l("Patrol note"),
}
STATUS_LABELS = {"open": _l("Open"), "closed": _l("Closed")}
STEP_LABELS = {
    "update": _l("Handling updated"),
    "close": _l("Closed"),
    "reopen": _l("Reopened"),
    "arrive": _l("Arrived on the scene"),
    "comment": _l("Comment"),
}
# The states each step starts from, and where it takes the entry (None: stays).
FROM = {
    "update": ("open",),
    "close": ("open",),
    "reopen": ("closed",),
    "arrive": ENTRY_STATES,
    "comment": ENTRY_STATES,
}
TARGET = {"close": "closed", "reopen": "open"}
MANAGER_STEPS = ("reopen", "arrive")
TEXT_LIMIT = 2000


def kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


def respond_by(site: Site, kind: str, moment: datetime) -> datetime:
    """D4, D2: the response is due the site's minutes for this kind after it happened."""
    return moment + timedelta(minutes=int(site.setting("respond_minutes").get(kind, 60)))


def _text(value, limit: int, what: str) -> str:
    value = str(value or "").strip()
    if len(value) > limit:
        raise DomainError(_("%(what)s is too long (at most %(n)d characters).", what=what, n=limit))
    return value


def parse_entry(site: Site, fields) -> dict:
    """The entry form's fields, checked (record_entry's keyword arguments)."""
    parsed = {
        "kind": str(fields.get("kind", "")),
        "summary": _text(fields.get("summary"), TEXT_LIMIT, _("What happened")),
        "reporter_name": _text(fields.get("reporter_name"), 60, _("The name")),
        "reporter_unit": _text(fields.get("reporter_unit"), 60, _("The unit")),
        "reporter_phone": _text(fields.get("reporter_phone"), 30, _("The phone number")),
        "location": _text(fields.get("location"), 200, _("The place")),
        "handling": _text(fields.get("handling"), TEXT_LIMIT, _("How it was handled")),
        "result": _text(fields.get("result"), TEXT_LIMIT, _("The result")),
        "follow_up": _text(fields.get("follow_up"), TEXT_LIMIT, _("The follow-up")),
        "status": str(fields.get("status") or "open"),
    }
    parsed["post"] = _of_site(
        site, Post, fields.get("post_id"), _("That post is not one of this site's.")
    )
    parsed["area"] = _of_site(
        site, Area, fields.get("area_id"), _("That area is not one of this site's.")
    )
    return parsed


def _of_site(site: Site, model, raw, refusal: str):
    if raw in (None, ""):
        return None
    try:
        found = db.session.get(model, int(raw))
    except (TypeError, ValueError):
        found = None
    if found is None or found.site_id != site.id:
        raise DomainError(refusal)
    return found


def record_entry(
    site: Site,
    *,
    by: User,
    op_id: str,
    device_time: datetime,
    kind: str,
    summary: str,
    reporter_name: str = "",
    reporter_unit: str = "",
    reporter_phone: str = "",
    post: Post | None = None,
    area: Area | None = None,
    location: str = "",
    handling: str = "",
    result: str = "",
    follow_up: str = "",
    status: str = "open",
    received_at: datetime | None = None,
    clock_offset_s: float | None = None,
    device_id: str | None = None,
) -> tuple[DutyEntry, bool]:
    """Record an entry once; returns (entry, created). Same id, other body: 409.

    D11: an emergency must see the general duty officer on the scene within the site's
    minutes, and is put before the supervisor level at once."""
    if kind not in ENTRY_KINDS:
        raise DomainError(_("Choose what kind of entry it is."))
    summary = summary.strip()
    if not summary:
        raise DomainError(_("Say what happened."))
    if status not in ENTRY_STATES:
        raise DomainError(_("Choose whether it is open or closed."))
    if status == "closed" and not result.strip():
        raise DomainError(_("Write the result before closing it."))
    for place in (post, area):
        if place is not None and place.site_id != site.id:
            raise DomainError(_("That place belongs to another site."), 403)
    received_at, clock_offset_s, flagged = device_clock(device_time, received_at, clock_offset_s)
    texts = {
        "kind": kind,
        "summary": summary,
        "reporter_name": reporter_name,
        "reporter_unit": reporter_unit,
        "reporter_phone": reporter_phone,
        "location": location,
        "handling": handling,
        "result": result,
        "follow_up": follow_up,
        "status": status,
    }
    body_hash = payload_hash(
        {
            **texts,
            "site": site.id,
            "user": by.id,
            "device_time": device_time.isoformat(),
            "post": post.id if post else None,
            "area": area.id if area else None,
        }
    )
    existing = db.session.get(DutyEntry, op_id)
    if existing is not None:
        if existing.payload_hash != body_hash or existing.site_id != site.id:
            raise DomainError(_("This entry was already recorded with other details."), 409)
        return existing, False
    when = moment_of(device_time, received_at, flagged)
    entry = DutyEntry(
        id=op_id,
        site_id=site.id,
        post=post,
        area=area,
        respond_by=respond_by(site, kind, when),
        closed_at=when if status == "closed" else None,
        created_by_id=by.id,
        device_time=device_time,
        received_at=received_at,
        clock_offset_s=clock_offset_s,
        clock_flagged=flagged,
        payload_hash=body_hash,
        device_id=device_id,
        **texts,
    )
    db.session.add(entry)
    if kind == "emergency":
        minutes = int(site.setting("emergency_arrival_minutes"))
        entry.arrival_due = when + timedelta(minutes=minutes)
        db.session.flush()
        escalate(site, level=2, reason="emergency", at=when, entry=entry)
    db.session.flush()
    return entry, True


def refusal(
    status: str, action: str, role: str, *, emergency: bool = True, arrived: bool = False
) -> str | None:
    """Why this person may not take this step on an entry in `status`, or None."""
    if action not in ENTRY_STEPS:
        return _("That is not a step of a duty-log entry.")
    if action in MANAGER_STEPS and role not in MANAGERS:
        if action == "arrive":
            return _("Arrival on the scene is recorded by the supervisor or director.")
        return _("Only a supervisor can reopen an entry.")
    if action == "arrive" and not emergency:
        return _("Arrival on the scene is recorded for emergencies only.")
    if status not in FROM[action]:
        if action == "reopen":
            return _("This entry is open.")
        return _("This entry is closed; a supervisor can reopen it.")
    if action == "arrive" and arrived:
        return _("The arrival on the scene was already recorded.")
    return None


def refusal_for(entry: DutyEntry, action: str, user: User) -> str | None:
    return refusal(
        entry.status,
        action,
        user.role,
        emergency=entry.kind == "emergency",
        arrived=entry.arrived_at is not None,
    )


def steps_for(entry: DutyEntry, user: User) -> list[str]:
    """The steps this person may take on this entry now, for the page's forms."""
    return [action for action in ENTRY_STEPS if refusal_for(entry, action, user) is None]


def parse_entry_step(fields) -> dict:
    """The step form's fields, checked (record_entry_step's keyword arguments)."""
    action = str(fields.get("action", ""))
    if action not in ENTRY_STEPS:
        raise DomainError(_("That is not a step of a duty-log entry."))
    step = {
        "action": action,
        "handling": _text(fields.get("handling"), TEXT_LIMIT, _("How it was handled")),
        "result": _text(fields.get("result"), TEXT_LIMIT, _("The result")),
        "follow_up": _text(fields.get("follow_up"), TEXT_LIMIT, _("The follow-up")),
        "note": _text(fields.get("note"), TEXT_LIMIT, _("The note")),
    }
    base = str(fields.get("base", "")).strip()
    step["base"] = int(base) if base.isdigit() else None
    if action == "update" and not (step["handling"] or step["result"] or step["follow_up"]):
        raise DomainError(_("Write how it was handled, the result or what is left."))
    if action == "close" and not step["result"]:
        raise DomainError(_("Write the result before closing it."))
    if action in ("reopen", "comment") and not step["note"]:
        raise DomainError(_("Write the reason."))
    return step


def record_entry_step(
    entry: DutyEntry,
    *,
    by: User,
    op_id: str,
    device_time: datetime,
    action: str,
    handling: str = "",
    result: str = "",
    follow_up: str = "",
    note: str = "",
    base: int | None = None,
    received_at: datetime | None = None,
    clock_offset_s: float | None = None,
    device_id: str | None = None,
) -> tuple[DutyEntryEvent, bool]:
    """Apply one step once; returns (event, created).

    A step that is not allowed raises a DomainError and changes nothing, unless it was
    made against an older state (`base` below the entry's step count) and only that state
    stands in its way: then it is kept as "superseded" with the reason. Same id, other
    body: 409."""
    received_at, clock_offset_s, flagged = device_clock(device_time, received_at, clock_offset_s)
    body_hash = payload_hash(
        {
            "entry": entry.id,
            "user": by.id,
            "device_time": device_time.isoformat(),
            "action": action,
            "handling": handling,
            "result": result,
            "follow_up": follow_up,
            "note": note,
        }
    )
    existing = db.session.get(DutyEntryEvent, op_id)
    if existing is not None:
        if existing.payload_hash != body_hash or existing.entry_id != entry.id:
            raise DomainError(_("This step was already recorded with other details."), 409)
        return existing, False
    reason = refusal_for(entry, action, by)
    stale = base is not None and base < entry.events_count
    if reason is not None:
        favourable = refusal(
            FROM.get(action, ("open",))[0], action, by.role, emergency=entry.kind == "emergency"
        )
        if not stale or favourable is not None:
            raise DomainError(reason)
        reason = superseded_reason(reason, entry.events, STEP_LABELS)
    entry.events_count += 1
    event = DutyEntryEvent(
        id=op_id,
        entry=entry,
        ordinal=entry.events_count,
        action=action,
        outcome="applied" if reason is None else "superseded",
        reason=(reason or "")[:300],
        from_status=entry.status,
        to_status=entry.status,
        by_id=by.id,
        handling=handling,
        result=result,
        follow_up=follow_up,
        note=note,
        device_time=device_time,
        received_at=received_at,
        clock_offset_s=clock_offset_s,
        clock_flagged=flagged,
        payload_hash=body_hash,
        device_id=device_id,
    )
    db.session.add(event)
    if reason is None:
        _apply(entry, event, by, moment_of(device_time, received_at, flagged))
    db.session.flush()
    return event, True


def _apply(entry: DutyEntry, event: DutyEntryEvent, by: User, when: datetime) -> None:
    """What an applied step changes on the entry's current state."""
    for name in ("handling", "result", "follow_up"):
        text = getattr(event, name)
        if text and event.action in ("update", "close"):
            setattr(entry, name, text)
    if event.action == "close":
        entry.closed_at = when
    elif event.action == "reopen":
        entry.closed_at = None
    elif event.action == "arrive":
        entry.arrived_at = when
        entry.arrived_by_id = by.id
    target = TARGET.get(event.action)
    if target is not None:
        entry.status = target
        event.to_status = target
