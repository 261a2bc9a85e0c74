"""Findings (问题 / 不合格项) logged on duty, from a checkpoint, an area or anywhere.

The form works through the outbox (the service worker queues it with its photos) or,
without a service worker, posts straight here with the photos attached; both end in
record_finding(). The nonconformity workflow (assign, correct, verify) builds on these.
"""

import hashlib
import json
import uuid
from datetime import datetime, timedelta

from flask import Blueprint, current_app, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from dutypwa.access import roles_required, site_object, site_or_403
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.http import render
from dutypwa.models import (
    CATEGORIES,
    MAX_PHOTOS,
    SEVERITIES,
    Area,
    Checkpoint,
    Finding,
    FindingPhoto,
    Photo,
    Site,
    User,
    utcnow,
)
from dutypwa.nonconformities import due_at
from dutypwa.patrol import PATROL_ROLES, parse_device_time
from dutypwa.photos import store_photo

bp = Blueprint("findings", __name__)

CATEGORY_LABELS = {
    "garden": _l("Garden"),
    "equipment": _l("Equipment"),
    "hygiene": _l("Hygiene"),
    "safety": _l("Safety"),
    "lighting": _l("Lighting"),
    "facilities": _l("Facilities"),
    "discipline": _l("Discipline"),
    "other": _l("Other"),
}
SEVERITY_LABELS = {"urgent": _l("Urgent"), "normal": _l("Normal"), "low": _l("Low")}


def record_finding(
    site: Site,
    *,
    by: User,
    op_id: str,
    device_time: datetime,
    category: str,
    severity: str,
    description: str,
    location: str = "",
    checkpoint: Checkpoint | None = None,
    area: Area | None = None,
    photo_ids: list[str] = (),
    source: str | None = None,
    received_at: datetime | None = None,
    clock_offset_s: float | None = None,
    device_id: str | None = None,
) -> tuple[Finding, bool]:
    """Record a finding once; returns (finding, created). Same id, other body: 409."""
    if category not in CATEGORIES or category not in site.setting("categories"):
        raise DomainError(_("Choose a category."))
    if severity not in SEVERITIES:
        raise DomainError(_("Choose how urgent it is."))
    description = description.strip()
    if not description:
        raise DomainError(_("Describe the problem."))
    if len(description) > 2000 or len(location) > 200:
        raise DomainError(_("The description is too long (at most 2000 characters)."))
    if len(photo_ids) > MAX_PHOTOS:
        raise DomainError(_("At most %(n)d photos.", n=MAX_PHOTOS))
    for ident in (checkpoint, area):
        if ident is not None and ident.site_id != site.id:
            raise DomainError(_("That place belongs to another site."), 403)
    received_at = received_at or utcnow()
    if clock_offset_s is None:
        clock_offset_s = (received_at - device_time).total_seconds()
    body = {
        "site": site.id,
        "user": by.id,
        "device_time": device_time.isoformat(),
        "category": category,
        "severity": severity,
        "description": description,
        "location": location,
        "checkpoint": checkpoint.id if checkpoint else None,
        "area": area.id if area else None,
        "photos": list(photo_ids),
    }
    payload_hash = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    existing = db.session.get(Finding, op_id)
    if existing is not None:
        if existing.payload_hash != payload_hash:
            raise DomainError(_("This finding was already recorded with other details."), 409)
        return existing, False
    flagged = abs(clock_offset_s) > current_app.config["CLOCK_SKEW_FLAG_SECONDS"]
    finding = Finding(
        id=op_id,
        site_id=site.id,
        checkpoint=checkpoint,
        area=area or (checkpoint.area if checkpoint else None),
        source=source or ("checkpoint" if checkpoint else "anywhere"),
        # The correction clock starts when it was seen, unless the phone's clock is off.
        due_at=due_at(site, severity, received_at if flagged else device_time),
        recheck_due=checkpoint is not None,
        location=location,
        category=category,
        severity=severity,
        description=description,
        created_by_id=by.id,
        device_time=device_time,
        received_at=received_at,
        clock_offset_s=clock_offset_s,
        clock_flagged=flagged,
        payload_hash=payload_hash,
        device_id=device_id,
        photos=[FindingPhoto(position=i, photo_id=p) for i, p in enumerate(photo_ids)],
    )
    db.session.add(finding)
    db.session.flush()
    return finding, True


def place_of(site: Site, *, checkpoint_token: str | None, area_id) -> tuple:
    """The checkpoint and area a finding names, both of this site (else a DomainError)."""
    checkpoint = area = None
    if checkpoint_token:
        checkpoint = db.session.scalar(
            select(Checkpoint).where(Checkpoint.token == checkpoint_token)
        )
        if checkpoint is None or checkpoint.site_id != site.id:
            raise DomainError(_("That checkpoint is not one of this site's."))
    if area_id not in (None, "", 0, "0"):
        try:
            area = db.session.get(Area, int(area_id))
        except (TypeError, ValueError):
            area = None
        if area is None or area.site_id != site.id:
            raise DomainError(_("That area is not one of this site's."))
    return checkpoint, area


def _form_context(site: Site, **extra) -> dict:
    token = request.values.get("checkpoint") or request.values.get("checkpoint_token")
    checkpoint = None
    if token:
        checkpoint = db.session.scalar(select(Checkpoint).where(Checkpoint.token == token))
        if checkpoint is not None and checkpoint.site_id != site.id:
            checkpoint = None
    context = {
        "site": site,
        "checkpoint": checkpoint,
        "areas": site.areas,
        "categories": CATEGORY_LABELS,
        "severities": SEVERITY_LABELS,
        "max_photos": MAX_PHOTOS,
        "op_id": str(uuid.uuid4()),
        "form": {},
    }
    context.update(extra)
    return context


@bp.get("/s/<site_code>/findings/new")
@roles_required(*PATROL_ROLES)
def new(site_code: str):
    site = site_or_403(site_code)
    return render("findings/new.html", **_form_context(site))


@bp.post("/s/<site_code>/findings")
@roles_required(*PATROL_ROLES)
def create(site_code: str):
    """The form post without a service worker: photos come as files in the same request."""
    site = site_or_403(site_code)
    form = request.form
    try:
        op_id = str(uuid.UUID(form.get("op_id", "")))
        checkpoint, area = place_of(
            site, checkpoint_token=form.get("checkpoint_token"), area_id=form.get("area_id")
        )
        files = [f for f in request.files.getlist("photos") if f and f.filename]
        if len(files) > MAX_PHOTOS:
            raise DomainError(_("At most %(n)d photos.", n=MAX_PHOTOS))
        photo_ids = []
        for index, upload in enumerate(files):
            # Ids derived from the finding's, so a resent form stores each photo once.
            photo_id = str(uuid.uuid5(uuid.UUID(op_id), f"photo/{index}"))
            store_photo(photo_id, upload.read(), site=site, by=current_user, sha256=None)
            photo_ids.append(photo_id)
        finding, created = record_finding(
            site,
            by=current_user,
            op_id=op_id,
            device_time=parse_device_time(form.get("device_time")),
            category=form.get("category", ""),
            severity=form.get("severity", ""),
            description=form.get("description", ""),
            location=form.get("location", "").strip()[:200],
            checkpoint=checkpoint,
            area=area,
            photo_ids=photo_ids,
        )
    except ValueError:
        db.session.rollback()
        return _refused(site, _("The form is missing its id. Reload and try again."), 422)
    except DomainError as error:
        db.session.rollback()
        return _refused(site, error.message, error.status)
    db.session.commit()
    return render(
        "findings/done.html",
        "findings/_done.html",
        status=201 if created else 200,
        site=site,
        finding=finding,
        created=created,
    )


def _refused(site: Site, message: str, status: int):
    context = _form_context(site, error=message, form=request.form)
    context["op_id"] = request.form.get("op_id") or context["op_id"]
    return render("findings/new.html", "findings/_form.html", status=status, **context)


@bp.get("/s/<site_code>/findings")
@roles_required(*PATROL_ROLES)
def index(site_code: str):
    """Findings of the last 30 days at this site, newest first, with their photos."""
    site = site_or_403(site_code)
    since = utcnow() - timedelta(days=30)
    findings = db.session.scalars(
        select(Finding)
        .where(Finding.site_id == site.id, Finding.received_at >= since)
        .order_by(Finding.received_at.desc())
        .limit(200)
    ).all()
    photo_ids = [p.photo_id for f in findings for p in f.photos]
    arrived = set(db.session.scalars(select(Photo.id).where(Photo.id.in_(photo_ids))))
    return render(
        "findings/index.html",
        site=site,
        findings=findings,
        arrived=arrived,
        categories=CATEGORY_LABELS,
        severities=SEVERITY_LABELS,
    )


@bp.get("/s/<site_code>/findings/<finding_id>")
@roles_required(*PATROL_ROLES)
def show(site_code: str, finding_id: str):
    site = site_or_403(site_code)
    finding = site_object(Finding, finding_id, site)
    arrived = set(
        db.session.scalars(
            select(Photo.id).where(Photo.id.in_([p.photo_id for p in finding.photos]))
        )
    )
    return render(
        "findings/done.html",
        site=site,
        finding=finding,
        created=False,
        arrived=arrived,
        categories=CATEGORY_LABELS,
        severities=SEVERITY_LABELS,
    )
