"""The nonconformity lifecycle (不合格项: 纠正、记录, rules D1 and D3): assign, correct with
after-photos, verify (pass → closed, fail → second correction 二次整改, or close with a
recorded deduction), re-check on the next patrol, comment.

Each step is an append-only FindingEvent with a client UUID, made through the outbox like
every device write. `refusal()` is the whole rule table as a pure function; `record_step()`
applies one step, or keeps it as "superseded" when it was made offline against an older
state of the item and no longer applies (the person is shown why).
"""

import uuid
from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.facts import device_clock, payload_hash, superseded_reason
from dutypwa.models import (
    MANAGERS,
    MAX_PHOTOS,
    OPEN_STATES,
    STEPS,
    CheckpointState,
    Finding,
    FindingEvent,
    Site,
    User,
    site_members,
)

STATE_LABELS = {
    "open": _l("Open"),
    "assigned": _l("Assigned"),
    "corrected": _l("Corrected, to verify"),
    "reopened": _l("Second correction"),
    "closed": _l("Closed"),
}
STEP_LABELS = {
    "raise": _l("Raised"),
    "assign": _l("Assigned"),
    "correct": _l("Corrected"),
    "verify_pass": _l("Verified: passed"),
    "verify_fail": _l("Verified: failed, second correction"),
    "close_deduct": _l("Closed with a deduction"),
    "recheck": _l("Re-checked on patrol"),
    "comment": _l("Comment"),
}
TEAM_LABELS = {
    "maintenance": _l("Maintenance"),
    "cleaning": _l("Cleaning"),
    "greening": _l("Greening"),
    "security": _l("Security"),
}
# Where each step takes the item (None: it stays where it is).
TARGET = {
    "assign": "assigned",
    "correct": "corrected",
    "verify_pass": "closed",
    "verify_fail": "reopened",
    "close_deduct": "closed",
    "recheck": None,
    "comment": None,
}
# The states each step starts from.
FROM = {
    "assign": ("open", "assigned", "reopened"),
    "correct": ("open", "assigned", "reopened"),
    "verify_pass": ("corrected",),
    "verify_fail": ("corrected",),
    "close_deduct": ("corrected", "reopened"),
    "recheck": OPEN_STATES,
    "comment": (*OPEN_STATES, "closed"),
}
MANAGER_STEPS = ("assign", "verify_pass", "verify_fail", "close_deduct")
VERIFY_STEPS = ("verify_pass", "verify_fail", "close_deduct")


def team_label(team: str) -> str:
    return str(TEAM_LABELS.get(team, team))


def refusal(
    status: str,
    action: str,
    role: str,
    *,
    assigned_to_other: bool = False,
    own_correction: bool = False,
) -> str | None:
    """Why this person may not take this step now, or None if they may.

    `assigned_to_other`: the item is assigned to another person by name (a team
    assignment lets anyone on the team's site correct it). `own_correction`: this person
    made the correction that is waiting for verification.
    """
    if action not in STEPS:
        return _("That is not a step of a nonconformity.")
    if status == "closed" and action != "comment":
        return _("This nonconformity is already closed.")
    if action in MANAGER_STEPS and role not in MANAGERS:
        return _("Only a supervisor can do this.")
    if status not in FROM[action]:
        if action in ("verify_pass", "verify_fail"):
            return _("Only a corrected nonconformity can be verified.")
        if action == "close_deduct":
            return _("Close with a deduction after a correction was made.")
        return _("It is corrected and waiting for a supervisor to verify it.")
    if action == "correct" and role not in MANAGERS and assigned_to_other:
        return _("It is assigned to someone else.")
    if action in VERIFY_STEPS and own_correction:
        return _("You cannot verify your own correction.")
    return None


def refusal_for(finding: Finding, action: str, user: User) -> str | None:
    return refusal(
        finding.status,
        action,
        user.role,
        assigned_to_other=finding.assignee_id is not None and finding.assignee_id != user.id,
        own_correction=finding.corrected_by_id == user.id,
    )


def refused_for_who(finding: Finding, action: str, user: User) -> bool:
    """Whether the refusal is about the person (role, someone else's item, their own
    correction: 403) rather than about the item's state (422)."""
    if action not in STEPS or finding.status == "closed":
        return False
    if action in MANAGER_STEPS and user.role not in MANAGERS:
        return True
    return finding.status in FROM[action] and refusal_for(finding, action, user) is not None


def steps_for(finding: Finding, user: User) -> list[str]:
    """The steps this person may take on this item now, for the page's buttons."""
    return [action for action in STEPS if refusal_for(finding, action, user) is None]


def due_at(site: Site, severity: str, moment: datetime) -> datetime:
    """When the correction is due: the site's hours for this severity after `moment`."""
    hours = site.setting("due_hours").get(severity, 24)
    return moment + timedelta(hours=hours)


def _member(site: Site, user_id) -> User | None:
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        return None
    if user.role == "admin":
        return user
    is_member = db.session.scalar(
        select(site_members.c.user_id).where(
            site_members.c.user_id == user.id, site_members.c.site_id == site.id
        )
    )
    return user if is_member else None


def parse_step(site: Site, fields: dict, photo_ids: list[str]) -> dict:
    """The step form's fields, checked: a DomainError says what is wrong."""
    action = str(fields.get("action", ""))
    if action not in STEPS:
        raise DomainError(_("That is not a step of a nonconformity."))
    note = str(fields.get("note", "")).strip()
    if len(note) > 2000:
        raise DomainError(_("The note is too long (at most 2000 characters)."))
    if len(photo_ids) > MAX_PHOTOS:
        raise DomainError(_("At most %(n)d photos.", n=MAX_PHOTOS))
    step = {"action": action, "note": note, "photo_ids": list(photo_ids)}
    base = str(fields.get("base", "")).strip()
    step["base"] = int(base) if base.isdigit() else None
    if action == "assign":
        assignee = str(fields.get("assignee", "")).strip()
        team = str(fields.get("team", "")).strip()
        if assignee:
            user = _member(site, assignee)
            if user is None:
                raise DomainError(_("Choose a person of this site."))
            step["assignee_id"] = user.id
        elif team:
            if team not in site.setting("teams"):
                raise DomainError(_("Choose one of the site's teams."))
            step["assignee_team"] = team
        else:
            raise DomainError(_("Choose a person or a team."))
    if action == "correct" and not note:
        raise DomainError(_("Say what was done to correct it."))
    if action in ("verify_fail", "close_deduct", "comment") and not note:
        raise DomainError(_("Write the reason."))
    if action == "close_deduct":
        raw = str(fields.get("deduction", "")).strip()
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            raise DomainError(_("Give the deduction as a whole number from 1 to 100."))
        step["deduction"] = int(raw)
    if action == "recheck":
        result = str(fields.get("result", ""))
        if result not in ("ok", "not_ok"):
            raise DomainError(_("Say whether it is fixed."))
        step["result"] = result
    return step


def record_step(
    finding: Finding,
    *,
    by: User,
    op_id: str,
    device_time: datetime,
    action: str,
    note: str = "",
    base: int | None = None,
    assignee_id: int | None = None,
    assignee_team: str = "",
    deduction: int = 0,
    result: str = "",
    photo_ids: list[str] = (),
    checkin_id: str | None = None,
    received_at: datetime | None = None,
    clock_offset_s: float | None = None,
    device_id: str | None = None,
) -> tuple[FindingEvent, bool]:
    """Apply one step once; returns (event, created).

    A step that is not allowed raises a DomainError and changes nothing, unless it was
    made against an older state (`base` below the item's last ordinal) and only the state
    stands in its way: then it is kept as "superseded" with the reason, so both devices'
    steps stay on the record in server order. Same id, other body: 409.
    """
    received_at, clock_offset_s, flagged = device_clock(device_time, received_at, clock_offset_s)
    body = {
        "finding": finding.id,
        "user": by.id,
        "device_time": device_time.isoformat(),
        "action": action,
        "note": note,
        "assignee": assignee_id,
        "team": assignee_team,
        "deduction": deduction,
        "result": result,
        "photos": list(photo_ids),
        "checkin": checkin_id,
    }
    body_hash = payload_hash(body)
    existing = db.session.get(FindingEvent, op_id)
    if existing is not None:
        if existing.payload_hash != body_hash or existing.finding_id != finding.id:
            raise DomainError(_("This step was already recorded with other details."), 409)
        return existing, False
    reason = refusal_for(finding, action, by)
    stale = base is not None and base < finding.events_count
    if reason is not None:
        # A step made against an older state, by someone whose role allows it, is kept.
        if not stale or refusal(FROM[action][0], action, by.role) is not None:
            raise DomainError(reason, 403 if refused_for_who(finding, action, by) else 422)
        reason = superseded_reason(reason, finding.events, STEP_LABELS)
    finding.events_count += 1
    event = FindingEvent(
        id=op_id,
        finding=finding,
        ordinal=finding.events_count,
        action=action,
        outcome="applied" if reason is None else "superseded",
        reason=(reason or "")[:300],
        from_status=finding.status,
        to_status=finding.status,
        by_id=by.id,
        note=note,
        assignee_id=assignee_id,
        assignee_team=assignee_team,
        result=result,
        deduction=deduction,
        photo_ids=list(photo_ids),
        checkin_id=checkin_id,
        device_time=device_time,
        received_at=received_at,
        clock_offset_s=clock_offset_s,
        clock_flagged=flagged,
        payload_hash=body_hash,
        device_id=device_id,
    )
    db.session.add(event)
    if reason is None:
        _apply(finding, event, by, received_at)
    db.session.flush()
    return event, True


def _apply(finding: Finding, event: FindingEvent, by: User, now: datetime) -> None:
    """What an applied step changes on the item's current state."""
    action = event.action
    if action == "assign":
        finding.assignee_id = event.assignee_id
        finding.assignee_team = event.assignee_team
    elif action == "correct":
        finding.corrected_by_id = by.id
        finding.recheck_due = finding.checkpoint_id is not None
    elif action == "verify_fail":
        finding.round += 1
        finding.due_at = due_at(finding_site(finding), finding.severity, now)
    elif action in ("verify_pass", "close_deduct"):
        finding.closed_at = now
        finding.recheck_due = False
        finding.deduction = event.deduction
        if finding.checkin_id is not None:
            # The coverage state counts a check-in's items found not OK while they are open.
            db.session.execute(
                update(CheckpointState)
                .where(
                    CheckpointState.checkpoint_id == finding.checkpoint_id,
                    CheckpointState.open_findings > 0,
                )
                .values(open_findings=CheckpointState.open_findings - 1)
            )
    elif action == "recheck":
        finding.recheck_due = False
    target = TARGET[action]
    if target is not None:
        finding.status = target
        event.to_status = target


def finding_site(finding: Finding) -> Site:
    return db.session.get(Site, finding.site_id)


def after_photos(finding: Finding) -> list[str]:
    """The photo ids of the applied corrections, latest round last."""
    return [
        photo
        for event in finding.events
        if event.applied and event.action == "correct"
        for photo in event.photo_ids
    ]


def latest_recheck(finding: Finding) -> FindingEvent | None:
    """The latest re-check made on patrol: evidence for the verification."""
    rechecks = [e for e in finding.events if e.applied and e.action == "recheck"]
    return rechecks[-1] if rechecks else None


def site_people(site: Site) -> list[User]:
    """The active people of the site, whom an item can be assigned to."""
    return db.session.scalars(
        select(User)
        .join(site_members, site_members.c.user_id == User.id)
        .where(site_members.c.site_id == site.id, User.active)
        .order_by(User.display_name)
    ).all()


def recheck_findings(checkpoint) -> list[Finding]:
    """Open nonconformities at this checkpoint that the next patrol passing it re-checks."""
    return db.session.scalars(
        select(Finding)
        .where(
            Finding.checkpoint_id == checkpoint.id,
            Finding.recheck_due,
            Finding.status.in_(OPEN_STATES),
        )
        .order_by(Finding.received_at)
        .limit(20)
    ).all()


def record_rechecks(
    checkin,
    answers: dict[str, str],
    *,
    by: User,
    received_at: datetime,
    clock_offset_s: float | None,
    device_id: str | None,
) -> list[str]:
    """The re-check answers of a check-in ({finding id: "ok" | "not_ok"}), each a step
    whose id comes from the check-in's, so a replayed check-in makes each once. An answer
    for an item that is gone, of another checkpoint, or closed meanwhile is left out:
    the ids of those are returned, so the page can say so."""
    skipped = []
    for finding_id, result in answers.items():
        finding = db.session.get(Finding, finding_id)
        if (
            finding is None
            or finding.checkpoint_id != checkin.checkpoint_id
            or finding.status not in OPEN_STATES
        ):
            skipped.append(finding_id)
            continue
        event_id = str(uuid.uuid5(uuid.UUID(checkin.id), f"recheck/{finding_id}"))
        record_step(
            finding,
            by=by,
            op_id=event_id,
            device_time=checkin.device_time,
            action="recheck",
            result=result,
            checkin_id=checkin.id,
            received_at=received_at,
            clock_offset_s=clock_offset_s,
            device_id=device_id,
        )
    return skipped
