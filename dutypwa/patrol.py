"""Patrol: checking in at a QR checkpoint (/c/<token>) and the staff member's round.

A check-in is an append-only fact whose identity is a UUID made by the client, so a double
tap or a retried request records it once. It keeps the device clock, the server's receipt
time and the measured offset; an offset over the limit is flagged, never rejected.
"""

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, g, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import case, select
from sqlalchemy.dialects import postgresql, sqlite

from dutypwa.access import roles_required, site_object, site_or_403
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.facts import device_clock, payload_hash
from dutypwa.http import render
from dutypwa.models import (
    CheckIn,
    Checkpoint,
    CheckpointState,
    Finding,
    FindingEvent,
    Route,
    User,
    VoidedToken,
    utcnow,
)
from dutypwa.nonconformities import recheck_findings, record_rechecks

bp = Blueprint("patrol", __name__)

PATROL_ROLES = ("staff", "supervisor", "director", "admin")
# A "not OK" checklist item becomes a finding of this category.
CHECKLIST_CATEGORY = {"garden": "garden", "equipment": "equipment"}
# The check-in form's re-check answers are fields named recheck:<finding id>.
RECHECK_PREFIX = "recheck:"
MAX_RECHECKS = 50


def record_checkin(
    checkpoint: Checkpoint,
    *,
    by: User,
    op_id: str,
    device_time: datetime,
    results: list[dict],
    note: str = "",
    token: str | None = None,
    received_at: datetime | None = None,
    clock_offset_s: float | None = None,
    device_id: str | None = None,
    stored: Mapping[str, CheckIn] | None = None,
    flush: bool = True,
    rechecks: Mapping[str, str] | None = None,
) -> tuple[CheckIn, bool]:
    """Record a visit once; returns (check_in, created). A replay of the same op is a
    duplicate; the same id with a different body is refused (409).

    A sync batch looks its op ids up at once and passes what it found as `stored` (every
    id of the batch not in it is new), and writes its new check-ins together: with
    `flush=False` nothing is written until it calls write_checkins().

    `rechecks` ({finding id: "ok" | "not_ok"}) are the answers to the re-checks of the
    checkpoint's open nonconformities; each becomes a "recheck" step of its item."""
    received_at, clock_offset_s, flagged = device_clock(device_time, received_at, clock_offset_s)
    body = {
        "checkpoint": checkpoint.id,
        "user": by.id,
        "device_time": device_time.astimezone(UTC).isoformat(),
        "results": results,
        "note": note,
    }
    if rechecks:  # only when given: the hashes of earlier check-ins stay as they were
        body["rechecks"] = dict(rechecks)
    body_hash = payload_hash(body)
    existing = stored.get(op_id) if stored is not None else db.session.get(CheckIn, op_id)
    if existing is not None:
        if existing.payload_hash != body_hash:
            raise DomainError(_("This check-in was already recorded with other details."), 409)
        return existing, False

    checkin = CheckIn(
        id=op_id,
        site_id=checkpoint.site_id,
        checkpoint=checkpoint,
        user=by,
        device_time=device_time,
        received_at=received_at,
        clock_offset_s=clock_offset_s,
        visited_at=device_time + timedelta(seconds=clock_offset_s),
        clock_flagged=flagged,
        token=token or checkpoint.token,
        results=results,
        note=note,
        payload_hash=body_hash,
        device_id=device_id,
    )
    db.session.add(checkin)
    findings = [
        Finding(
            # Derived from the check-in's id, so the same check-in always makes the same ids.
            id=str(uuid.uuid5(uuid.UUID(op_id), f"checklist/{index}")),
            site_id=checkpoint.site_id,
            checkpoint=checkpoint,
            checkin=checkin,
            area_id=checkpoint.area_id,
            source="patrol",
            # A checklist item found not OK is a normal-severity nonconformity; the next
            # patrol that passes the checkpoint re-checks it.
            due_at=received_at + timedelta(hours=checkpoint.site.setting("due_hours")["normal"]),
            recheck_due=True,
            category=CHECKLIST_CATEGORY.get(checkpoint.kind, "other"),
            item=result["item"],
            description=result.get("note", ""),
            created_by_id=by.id,
            device_time=device_time,
            received_at=received_at,
            clock_offset_s=clock_offset_s,
            clock_flagged=checkin.clock_flagged,
            device_id=device_id,
        )
        for index, result in enumerate(results)
        if not result["ok"]
    ]
    db.session.add_all(findings)
    if rechecks:
        record_rechecks(
            checkin,
            dict(rechecks),
            by=by,
            received_at=received_at,
            clock_offset_s=clock_offset_s,
            device_id=device_id,
        )
    if flush:
        write_checkins([checkin])
    return checkin, True


def write_checkins(checkins: list[CheckIn]) -> None:
    """Flush new check-ins and count them in the current-state table, one statement for
    them all: a late (older) check-in counts but never moves the state back. The state is
    upserted with SQL arithmetic, so that two workers recording visits to one checkpoint
    at once neither collide on its first row nor lose a count."""
    db.session.flush()
    now = utcnow()
    states: dict[int, dict] = {}
    for checkin in checkins:
        state = states.setdefault(
            checkin.checkpoint_id,
            {
                "checkpoint_id": checkin.checkpoint_id,
                "site_id": checkin.site_id,
                "last_visit_at": None,
                "visit_count": 0,
                "open_findings": 0,
                "updated_at": now,
            },
        )
        if state["last_visit_at"] is None or checkin.visited_at >= state["last_visit_at"]:
            state["last_checkin_id"] = checkin.id
            state["last_visit_at"] = checkin.visited_at
            state["last_user_id"] = checkin.user_id
        state["visit_count"] += 1
        state["open_findings"] += sum(not result["ok"] for result in checkin.results)
    if not states:
        return
    table = CheckpointState.__table__
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(table)
    new = upsert.excluded
    newer = new.last_visit_at >= table.c.last_visit_at
    upsert = upsert.on_conflict_do_update(
        index_elements=[table.c.checkpoint_id],
        set_={
            "last_checkin_id": case((newer, new.last_checkin_id), else_=table.c.last_checkin_id),
            "last_visit_at": case((newer, new.last_visit_at), else_=table.c.last_visit_at),
            "last_user_id": case((newer, new.last_user_id), else_=table.c.last_user_id),
            "visit_count": table.c.visit_count + new.visit_count,
            "open_findings": table.c.open_findings + new.open_findings,
            "updated_at": new.updated_at,
        },
    )
    # Rows in checkpoint order: two batches locking some of the same rows never deadlock.
    db.session.execute(upsert, [states[key] for key in sorted(states)])
    for checkpoint_id in states:  # a state row this session holds is now out of date
        loaded = db.session.identity_map.get(
            db.session.identity_key(CheckpointState, checkpoint_id)
        )
        if loaded is not None:
            db.session.expire(loaded)
    from dutypwa.repetition import detect_repetition  # D8; imports this module

    for checkin in checkins:
        if not all(result["ok"] for result in checkin.results):
            for finding in checkin.findings:  # its checklist findings, flushed above
                detect_repetition(finding)


def parse_device_time(raw: str | None) -> datetime:
    """The phone's clock as a form sends it (ISO 8601 with an offset); none: the server's."""
    raw = (raw or "").strip()
    if not raw:
        return utcnow()
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise DomainError(_("The phone's time could not be read.")) from None
    if moment.tzinfo is None:
        raise DomainError(_("The phone's time has no time zone."))
    return moment


def parse_checkin_form(checkpoint: Checkpoint, form) -> dict:
    """Validate the check-in form; a DomainError (422) names what is wrong."""
    try:
        op_id = str(uuid.UUID(form.get("op_id", "")))
    except ValueError:
        raise DomainError(_("The form is missing its check-in id. Reload and try again.")) from None
    device_time = parse_device_time(form.get("device_time"))
    results = []
    missing = []
    for index, item in enumerate(checkpoint.checklist):
        answer = form.get(f"item-{index}")
        if answer not in ("ok", "not_ok"):
            missing.append(item)
            continue
        note = form.get(f"note-{index}", "").strip()[:1000]
        if answer == "not_ok" and not note:
            raise DomainError(_("Describe what is wrong with: %(item)s", item=item))
        results.append({"item": item, "ok": answer == "ok", "note": note})
    if missing:
        raise DomainError(_("Mark every item as OK or not OK: %(items)s", items="、".join(missing)))
    note = form.get("note", "").strip()
    if len(note) > 1000:
        raise DomainError(_("The note is too long (at most 1000 characters)."))
    parsed = {"op_id": op_id, "device_time": device_time, "results": results, "note": note}
    rechecks = parse_rechecks(form)
    if rechecks:
        parsed["rechecks"] = rechecks
    return parsed


def parse_rechecks(form) -> dict[str, str]:
    """The optional re-check answers `recheck:<finding id>` = ok | not_ok (unanswered
    ones are not sent). An id that names no item is left for record_rechecks() to skip."""
    rechecks = {}
    for name in form:
        if not name.startswith(RECHECK_PREFIX):
            continue
        answer = form.get(name, "")
        if answer == "":
            continue
        if answer not in ("ok", "not_ok"):
            raise DomainError(_("Answer each re-check with fixed or still a problem."))
        rechecks[name[len(RECHECK_PREFIX) :].strip().lower()[:36]] = answer
        if len(rechecks) > MAX_RECHECKS:
            raise DomainError(_("Too many re-check answers."))
    return rechecks


def checkpoint_for_token(
    token: str, *, loaded: Mapping[str, Checkpoint] | None = None
) -> Checkpoint:
    """The active checkpoint behind a scanned token, or a page that says why not.
    A sync batch passes the checkpoints of all its tokens, `loaded` at once."""
    if loaded is not None:
        checkpoint = loaded.get(token)
    else:
        checkpoint = db.session.scalar(select(Checkpoint).where(Checkpoint.token == token))
    if checkpoint is None:
        voided = db.session.get(VoidedToken, token)
        if voided is not None:
            abort(410, description=_("This label was replaced. Scan the new label on the spot."))
        abort(404, description=_("This QR code is not one of our checkpoints."))
    # site_or_403 sets g.site once it has let the user in: a batch checks its site once.
    if g.get("site") is not checkpoint.site:
        site_or_403(checkpoint.site.code)
    if not checkpoint.active:
        abort(410, description=_("This checkpoint is no longer in use."))
    return checkpoint


@bp.get("/c/<token>")
@roles_required(*PATROL_ROLES)
def checkpoint_page(token: str):
    checkpoint = checkpoint_for_token(token)
    state = db.session.get(CheckpointState, checkpoint.id)
    return render(
        "patrol/checkpoint.html",
        checkpoint=checkpoint,
        site=checkpoint.site,
        state=state,
        op_id=str(uuid.uuid4()),
        rechecks=recheck_findings(checkpoint),
    )


@bp.post("/c/<token>")
@roles_required(*PATROL_ROLES)
def checkin(token: str):
    checkpoint = checkpoint_for_token(token)
    try:
        fields = parse_checkin_form(checkpoint, request.form)
        checkin, created = record_checkin(checkpoint, by=current_user, token=token, **fields)
    except DomainError as error:
        db.session.rollback()
        return render(
            "patrol/checkpoint.html",
            "patrol/_checkin_form.html",
            status=error.status,
            checkpoint=checkpoint,
            site=checkpoint.site,
            state=db.session.get(CheckpointState, checkpoint.id),
            op_id=request.form.get("op_id") or str(uuid.uuid4()),
            error=error.message,
            form=request.form,
            rechecks=recheck_findings(checkpoint),
        )
    db.session.commit()
    return render(
        "patrol/checkin_done.html",
        "patrol/_checkin_done.html",
        status=201 if created else 200,
        checkpoint=checkpoint,
        site=checkpoint.site,
        checkin=checkin,
        created=created,
        state=db.session.get(CheckpointState, checkpoint.id),
        **recheck_outcome(checkin, fields.get("rechecks", {})),
    )


def checkin_result(op_id: str):
    """The server's answer to a check-in that came through the outbox (pwa.op_result), the
    same as its form post's, with the checkpoint's last visit; None until it has arrived."""
    checkin = db.session.get(CheckIn, op_id)
    if checkin is None:
        return None
    site = site_or_403(checkin.checkpoint.site.code)
    if not current_user.is_manager and checkin.user_id != current_user.id:
        abort(403, description=_("Only supervisors see other people's check-ins."))
    return render(
        "patrol/checkin_done.html",
        "patrol/_checkin_done.html",
        checkpoint=checkin.checkpoint,
        site=site,
        checkin=checkin,
        created=True,
        state=db.session.get(CheckpointState, checkin.checkpoint_id),
        **recheck_outcome(checkin, {}),
    )


def recheck_outcome(checkin: CheckIn, answered: Mapping[str, str]) -> dict:
    """What became of a check-in's re-check answers: the steps recorded and the answers
    left out because their item is gone or was closed meanwhile."""
    recorded = db.session.scalars(
        select(FindingEvent)
        .where(FindingEvent.checkin_id == checkin.id)
        .order_by(FindingEvent.received_at)
    ).all()
    done = {event.finding_id for event in recorded}
    return {
        "rechecked": recorded,
        "recheck_skipped": [finding_id for finding_id in answered if finding_id not in done],
    }


@bp.get("/s/<site_code>/patrol")
@roles_required(*PATROL_ROLES)
def my_patrol(site_code: str):
    site = site_or_403(site_code)
    now = utcnow()
    routes = db.session.scalars(
        select(Route).where(Route.site_id == site.id, Route.active).order_by(Route.name)
    ).all()
    rounds = [patrol_round(route, now) for route in routes]
    # A phone shows the rounds due now first; the rest of the routes come folded.
    due_now, later = [], []
    for patrol_run in rounds:
        running = any(slot["current"] for slot in patrol_run["slots"])
        (due_now if running else later).append(patrol_run)
    mine = db.session.scalars(
        select(CheckIn)
        .where(CheckIn.user_id == current_user.id, CheckIn.site_id == site.id)
        .where(CheckIn.visited_at >= now - timedelta(hours=12))
        .order_by(CheckIn.visited_at.desc())
        .limit(50)
    ).all()
    return render(
        "patrol/my_patrol.html",
        site=site,
        rounds=rounds,
        due_now=due_now,
        later=later,
        mine=mine,
        now=now,
    )


def patrol_round(route: Route, now: datetime) -> dict:
    """The route's current (or last) window: every slot with each checkpoint's state.

    A slot's checkpoint is done when anyone visited it in the slot, due while the slot
    runs, missed once the slot has ended without a visit, upcoming before it starts.
    """
    run = route.current_run(now) or route.last_run(now)
    if run is None:
        return {"route": route, "run": None, "slots": [], "running": False}
    checkpoint_ids = [stop.checkpoint_id for stop in route.stops]
    visits = db.session.execute(
        select(CheckIn.checkpoint_id, CheckIn.visited_at, User.display_name)
        .join(User, User.id == CheckIn.user_id)
        .where(CheckIn.checkpoint_id.in_(checkpoint_ids))
        .where(CheckIn.visited_at >= run.start, CheckIn.visited_at < run.end)
        .order_by(CheckIn.visited_at)
    ).all()
    slots = []
    for slot in run.slots:
        if slot.start > now:
            state_when_unvisited = "upcoming"
        elif slot.end > now:
            state_when_unvisited = "due"
        else:
            state_when_unvisited = "missed"
        rows = []
        for stop in route.stops:
            visit = next(
                (
                    v
                    for v in visits
                    if v.checkpoint_id == stop.checkpoint_id
                    and slot.start <= v.visited_at < slot.end
                ),
                None,
            )
            rows.append(
                {
                    "checkpoint": stop.checkpoint,
                    "state": "done" if visit else state_when_unvisited,
                    "visit": visit,
                }
            )
        slots.append({"slot": slot, "rows": rows, "current": slot.start <= now < slot.end})
    return {"route": route, "run": run, "slots": slots, "running": run.start <= now < run.end}


@bp.get("/s/<site_code>/checkins/<checkin_id>")
@roles_required(*PATROL_ROLES)
def checkin_detail(site_code: str, checkin_id: str):
    site = site_or_403(site_code)
    checkin = site_object(CheckIn, checkin_id, site)
    if not current_user.is_manager and checkin.user_id != current_user.id:
        abort(403, description=_("Only supervisors see other people's check-ins."))
    return render(
        "patrol/checkin_done.html",
        site=site,
        checkpoint=checkin.checkpoint,
        checkin=checkin,
        created=False,
        **recheck_outcome(checkin, {}),
    )
