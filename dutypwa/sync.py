"""The sync API (/api/v1): the outbox's batches of ops, photo uploads, the reference data a
patrol needs offline, and the OpenAPI document. Contract: docs/offline.md.

Protected by the session cookie, a custom header, JSON bodies and an Origin /
Sec-Fetch-Site check, not by a form CSRF token (it would expire before a late replay).
Each op is applied by the same domain function as the form post; one op's refusal does
not stop the batch, and the batch is committed once.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from dutypwa.dutylog import parse_entry, parse_entry_step, record_entry, record_entry_step
from dutypwa.errors import DomainError
from dutypwa.extensions import csrf, db
from dutypwa.findings import CATEGORY_LABELS, SEVERITY_LABELS, place_of, record_finding
from dutypwa.handover import station_for
from dutypwa.models import (
    OPEN_STATES,
    CheckIn,
    Checkpoint,
    Device,
    DutyEntry,
    Finding,
    Site,
    User,
    utcnow,
)
from dutypwa.models.checkpoint import listing_order
from dutypwa.nonconformities import parse_step, record_step
from dutypwa.patrol import (
    checkpoint_for_token,
    parse_checkin_form,
    record_checkin,
    write_checkins,
)
from dutypwa.photos import store_photo
from dutypwa.roster import all_hands
from dutypwa.roster import core as roster_core
from dutypwa.roster.requests import create_request, parse_request
from dutypwa.station import COOKIE as STATION_COOKIE
from dutypwa.station_offline import STATION_KINDS, apply_handover_arrive, apply_handover_step

bp = Blueprint("sync", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

MAX_OPS = 100
SYNC_HEADER = "X-Dutypwa-Sync"


def api_error(status: int, message: str):
    return jsonify(error=message), status


@bp.before_request
def guard():
    """Same-origin requests from our own script, by a logged-in person."""
    if request.endpoint == "sync.openapi":
        return None
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site and fetch_site not in ("same-origin", "none"):
        return api_error(403, _("Requests from other sites are refused."))
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        return api_error(403, _("Requests from other sites are refused."))
    if request.headers.get(SYNC_HEADER) != "1":
        return api_error(400, _("This address is for the app's own sync."))
    # A tablet enrolled as a station sends its handover ops with its own cookie, nobody
    # logged in (station.py); the ops name the person and carry their PIN proof.
    g.station = station_for(request.cookies.get(STATION_COOKIE))
    if current_user.is_authenticated:
        return None
    if g.station is not None and request.endpoint in ("sync.sync", "sync.put_photo"):
        return None
    return api_error(401, _("Please log in again. Your records stay on this phone."))


@dataclass(frozen=True)
class Op:
    id: str
    kind: str
    device_time: datetime
    payload: dict


@dataclass(frozen=True)
class Context:
    now: datetime
    offset: float | None
    device_id: str | None
    # The batch's check-ins are looked up together and written together, not op by op.
    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    checkins: dict[str, CheckIn] = field(default_factory=dict)
    created: list[CheckIn] = field(default_factory=list)


def parse_time(value, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise DomainError(_("%(what)s is not a time.", what=what), 400) from None
    if moment.tzinfo is None:
        raise DomainError(_("%(what)s has no time zone.", what=what), 400)
    return moment


def parse_batch(body) -> tuple[dict, list[Op]]:
    """The request body, checked as a whole: a malformed batch stores nothing (400)."""
    if not isinstance(body, dict):
        raise DomainError(_("The body must be a JSON object."), 400)
    device = body.get("device") or {}
    ops = body.get("ops")
    if not isinstance(device, dict) or not isinstance(ops, list):
        raise DomainError(_("The body needs a device object and a list of ops."), 400)
    if len(ops) > MAX_OPS:
        raise DomainError(_("At most %(n)d ops per request.", n=MAX_OPS), 413)
    parsed = []
    for raw in ops:
        if not isinstance(raw, dict) or not isinstance(raw.get("payload"), dict):
            raise DomainError(_("Each op needs an id, a kind, a device time and a payload."), 400)
        try:
            op_id = str(uuid.UUID(str(raw.get("id"))))
        except ValueError:
            raise DomainError(_("An op's id is not a UUID."), 400) from None
        kind = raw.get("kind")
        if not isinstance(kind, str):
            raise DomainError(_("An op has no kind."), 400)
        device_time = parse_time(raw.get("device_time"), "device_time")
        parsed.append(Op(op_id, kind, device_time, raw["payload"]))
    return device, parsed


def checkin_token(op: Op) -> str:
    return str(op.payload.get("token", ""))


def preload_checkins(ops: list[Op]) -> dict:
    """The checkpoints the batch's check-ins name and those check-ins already stored: two
    queries per batch instead of several per op."""
    checkins = [op for op in ops if op.kind == "checkin"]
    if not checkins:
        return {}
    tokens = {checkin_token(op) for op in checkins}
    ids = {op.id for op in checkins}
    return {
        "checkpoints": {
            checkpoint.token: checkpoint
            for checkpoint in db.session.scalars(
                select(Checkpoint).where(Checkpoint.token.in_(tokens))
            )
        },
        "checkins": {
            checkin.id: checkin
            for checkin in db.session.scalars(select(CheckIn).where(CheckIn.id.in_(ids)))
        },
    }


def apply_checkin(op: Op, context: Context) -> bool:
    payload = op.payload
    fields = payload.get("fields") or {}
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
        raise DomainError(_("The check-in's answers are malformed."))
    checkpoint = checkpoint_for_token(checkin_token(op), loaded=context.checkpoints)
    form = {**fields, "op_id": op.id, "device_time": op.device_time.isoformat()}
    checkin, created = record_checkin(
        checkpoint,
        by=current_user,
        token=checkpoint.token,
        received_at=context.now,
        clock_offset_s=context.offset,
        device_id=context.device_id,
        stored=context.checkins,
        flush=False,
        **parse_checkin_form(checkpoint, form),
    )
    if created:  # the same id again in this batch is a duplicate (or a conflict)
        context.checkins[op.id] = checkin
        context.created.append(checkin)
    return created


def fact(op: Op, context: Context) -> dict:
    """What every recorded fact takes from its op and its batch: who, the client's id and
    clock, when it arrived, the device."""
    return {
        "by": current_user,
        "op_id": op.id,
        "device_time": op.device_time,
        "received_at": context.now,
        "clock_offset_s": context.offset,
        "device_id": context.device_id,
    }


def op_site(op: Op) -> Site:
    site = db.session.scalar(select(Site).where(Site.code == str(op.payload.get("site", ""))))
    if site is None or not current_user.can_see_site(site):
        raise DomainError(_("You are not a member of that site."), 403)
    return site


def op_photo_ids(op: Op) -> list[str]:
    photos = op.payload.get("photos") or []
    if not isinstance(photos, list):
        raise DomainError(_("A photo id is not a UUID."))
    try:
        return [str(uuid.UUID(str(p))) for p in photos]
    except ValueError:
        raise DomainError(_("A photo id is not a UUID.")) from None


def op_fields(op: Op) -> dict:
    """The form fields of a generic op (lifecycle steps, duty-log entries)."""
    fields = op.payload.get("fields") or {}
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
        raise DomainError(_("The form's fields are malformed."))
    return fields


def apply_finding(op: Op, context: Context) -> bool:
    payload = op.payload
    site = op_site(op)
    checkpoint, area = place_of(
        site, checkpoint_token=payload.get("checkpoint_token"), area_id=payload.get("area_id")
    )
    photo_ids = op_photo_ids(op)
    _finding, created = record_finding(
        site,
        **fact(op, context),
        category=str(payload.get("category", "")),
        severity=str(payload.get("severity", "")),
        description=str(payload.get("description", "")),
        location=str(payload.get("location") or "")[:200],
        checkpoint=checkpoint,
        area=area,
        photo_ids=photo_ids,
    )
    return created


def apply_finding_step(op: Op, context: Context) -> bool:
    site = op_site(op)
    finding = db.session.get(Finding, str(op.payload.get("subject", "")))
    if finding is None or finding.site_id != site.id:
        raise DomainError(_("There is no such nonconformity at this site."), 404)
    step = parse_step(site, op_fields(op), op_photo_ids(op))
    event, created = record_step(
        finding,
        **fact(op, context),
        **step,
    )
    if not event.applied:
        # Kept on the item's timeline as superseded; the phone lists the step with why.
        raise DomainError(event.reason)
    return created


def apply_duty_entry(op: Op, context: Context) -> bool:
    site = op_site(op)
    if op_photo_ids(op):
        raise DomainError(_("A duty-log entry does not take photos."))
    _entry, created = record_entry(
        site,
        **fact(op, context),
        **parse_entry(site, op_fields(op)),
    )
    return created


def apply_duty_step(op: Op, context: Context) -> bool:
    site = op_site(op)
    entry = db.session.get(DutyEntry, str(op.payload.get("subject", "")))
    if entry is None or entry.site_id != site.id:
        raise DomainError(_("There is no such duty-log entry at this site."), 404)
    if op_photo_ids(op):
        raise DomainError(_("A duty-log step does not take photos."))
    event, created = record_entry_step(
        entry,
        **fact(op, context),
        **parse_entry_step(op_fields(op)),
    )
    if event.outcome != "applied":
        # Kept on the entry's timeline as superseded; the phone lists the step with why.
        raise DomainError(event.reason)
    return created


def apply_roster_request(op: Op, context: Context) -> bool:
    """R4: a request asked offline, checked again now (notice from when it was asked, the
    shift not begun, only one's own shifts); the roster itself does not change."""
    site = op_site(op)
    if op_photo_ids(op):
        raise DomainError(_("A roster request does not take photos."))
    _request, created = create_request(
        site,
        **fact(op, context),
        **parse_request(site, op_fields(op)),
    )
    return created


def apply_all_hands_ack(op: Op, context: Context) -> bool:
    """R7: "I have read it" / "I am on site" tapped offline, recorded once (its op id)."""
    site = op_site(op)
    _ack, created = all_hands.record_ack(
        all_hands.period_of(site, op.payload.get("subject")),
        **fact(op, context),
        **all_hands.parse_ack(op_fields(op)),
    )
    return created


def apply_station_step(op: Op, context: Context) -> bool:
    return apply_handover_step(op, context, fields=op_fields(op), photo_ids=op_photo_ids(op))


APPLY = {
    "checkin": apply_checkin,
    "finding": apply_finding,
    "finding_step": apply_finding_step,
    "duty_entry": apply_duty_entry,
    "duty_step": apply_duty_step,
    "handover_arrive": apply_handover_arrive,
    "handover_step": apply_station_step,
    "roster_request": apply_roster_request,
    "all_hands_ack": apply_all_hands_ack,
}


def apply_op(op: Op, context: Context) -> dict:
    """One result: created, duplicate, conflict or rejected (with a reason for a person)."""
    if op.kind not in APPLY:
        return {"id": op.id, "status": "rejected", "reason": _("Unknown kind of record.")}
    if op.kind not in STATION_KINDS and not current_user.is_authenticated:
        reason = _("Please log in again. Your records stay on this phone.")
        return {"id": op.id, "status": "rejected", "reason": reason}
    try:
        created = APPLY[op.kind](op, context)
    except DomainError as error:
        status = "conflict" if error.status == 409 else "rejected"
        return {"id": op.id, "status": status, "reason": error.message}
    except HTTPException as error:  # e.g. a replaced label (410) or another site (403)
        return {"id": op.id, "status": "rejected", "reason": error.description}
    return {"id": op.id, "status": "created" if created else "duplicate", "reason": None}


def device_key(device: dict) -> str | None:
    try:
        return str(uuid.UUID(str(device.get("id"))))
    except ValueError:
        return None


def note_device(device: dict, device_id: str, *, offset: float | None, now: datetime) -> None:
    """Remember what the device said about its outbox (the coverage page lists it)."""
    row = db.session.get(Device, device_id) or Device(id=device_id)
    db.session.add(row)
    row.user_id = current_user.id
    row.user_agent = request.headers.get("User-Agent", "")[:300]
    row.last_sync_at = now
    size = device.get("outbox_size")
    row.outbox_size = size if isinstance(size, int) and size >= 0 else 0
    oldest = device.get("oldest_pending")
    try:
        row.oldest_pending_at = parse_time(oldest, "oldest_pending") if oldest else None
    except DomainError:
        row.oldest_pending_at = None
    if offset is not None:
        row.clock_offset_s = offset


@bp.post("/sync")
def sync():
    now = utcnow()
    try:
        device, ops = parse_batch(request.get_json(silent=True) if request.is_json else None)
        device_now = parse_time(device["now"], "device.now") if device.get("now") else None
    except DomainError as error:
        return api_error(error.status, error.message)
    offset = (now - device_now).total_seconds() if device_now else None
    device_id = device_key(device) if device else None
    context = Context(now=now, offset=offset, device_id=device_id, **preload_checkins(ops))
    results = [apply_op(op, context) for op in ops]
    # Written last and together: on SQLite the write lock is held only this long.
    write_checkins(context.created)
    if device_id and current_user.is_authenticated:
        note_device(device, device_id, offset=offset, now=now)
    db.session.commit()
    return jsonify(server_time=now.isoformat(), results=results)


def photo_uploader(site: Site | None):
    """Who uploads: the person logged in, or on a station the person its outbox record
    names (X-Dutypwa-Person), a member of the station's site."""
    if site is None:
        return None
    if current_user.is_authenticated:
        return current_user if current_user.can_see_site(site) else None
    if g.station is None or g.station.site_id != site.id:
        return None
    person_id = _int_or_none(request.headers.get("X-Dutypwa-Person"))
    person = db.session.get(User, person_id) if person_id is not None else None
    if person is None or not person.active or not person.can_see_site(site):
        return None
    return person


def _int_or_none(raw):
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


@bp.put("/photos/<uuid:photo_id>")
def put_photo(photo_id):
    code = request.headers.get("X-Dutypwa-Site", "")
    site = db.session.scalar(select(Site).where(Site.code == code))
    uploader = photo_uploader(site)
    if site is None or uploader is None:
        return api_error(403, _("You are not a member of that site."))
    if request.content_type not in ("image/jpeg", "image/png", "image/webp"):
        return api_error(415, _("Send the photo as JPEG, PNG or WebP."))
    length = request.content_length
    if length is not None and length > current_app.config["PHOTO_MAX_BYTES"]:
        return api_error(413, _("The photo is too large."))
    try:
        _photo, created = store_photo(
            str(photo_id),
            request.get_data(cache=False),
            site=site,
            by=uploader,
            sha256=request.headers.get("X-Content-SHA256"),
        )
    except DomainError as error:
        db.session.rollback()
        return api_error(error.status, error.message)
    db.session.commit()
    return jsonify(id=str(photo_id), status="created" if created else "duplicate"), (
        201 if created else 200
    )


@bp.get("/reference")
def reference():
    """What a patrol needs offline, for every site the person may see."""
    sites = []
    for site in db.session.scalars(current_user.visible_sites_query()):
        checkpoints = db.session.scalars(
            select(Checkpoint)
            .outerjoin(Checkpoint.area)
            .where(Checkpoint.site_id == site.id, Checkpoint.active)
            .order_by(*listing_order())
        ).all()
        # Open problems the next patrol re-checks, so the offline checkpoint page asks too.
        rechecks: dict[int, list] = {}
        for finding in db.session.scalars(
            select(Finding)
            .where(
                Finding.site_id == site.id,
                Finding.recheck_due,
                Finding.checkpoint_id.is_not(None),
                Finding.status.in_(OPEN_STATES),
            )
            .order_by(Finding.received_at)
        ):
            rechecks.setdefault(finding.checkpoint_id, []).append(
                {
                    "id": finding.id,
                    "text": finding.item or finding.description[:80],
                    "raised_at": finding.received_at.isoformat(),
                }
            )
        sites.append(
            {
                "code": site.code,
                "name": site.name,
                "timezone": site.timezone,
                # The published roster months the worker saves for reading offline.
                "rosters": roster_core.offline_months(site, site.local(utcnow()).date()),
                "areas": [{"id": area.id, "name": area.name} for area in site.areas],
                "checkpoints": [
                    {
                        "token": c.token,
                        "code": c.code,
                        "name": c.name,
                        "area": c.area.name if c.area else None,
                        "kind": c.kind,
                        "description": c.description,
                        "checklist": c.checklist,
                        "rechecks": rechecks.get(c.id, [])[:20],
                    }
                    for c in checkpoints
                ],
            }
        )
    response = jsonify(
        server_time=utcnow().isoformat(),
        user={"id": current_user.id, "name": current_user.display_name, "role": current_user.role},
        sites=sites,
        categories=[{"key": k, "label": str(v)} for k, v in CATEGORY_LABELS.items()],
        severities=[{"key": k, "label": str(v)} for k, v in SEVERITY_LABELS.items()],
        # R7: the open all-hands periods of the person's sites, for the offline pages.
        all_hands=all_hands.reference_periods(current_user),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/openapi.json")
def openapi():
    from dutypwa.openapi import document

    return jsonify(document())
