"""Raising a finding (问题 / 不合格项): checked, recorded once, with its due time and the
place it names; used by the form post and by the sync API alike."""

from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.facts import device_clock, moment_of, payload_hash
from dutypwa.models import (
    CATEGORIES,
    MAX_PHOTOS,
    SEVERITIES,
    Area,
    Checkpoint,
    Finding,
    FindingPhoto,
    Site,
    User,
)
from dutypwa.nonconformities import due_at

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
    received_at, clock_offset_s, flagged = device_clock(device_time, received_at, clock_offset_s)
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
    body_hash = payload_hash(body)
    existing = db.session.get(Finding, op_id)
    if existing is not None:
        if existing.payload_hash != body_hash:
            raise DomainError(_("This finding was already recorded with other details."), 409)
        return existing, False
    finding = Finding(
        id=op_id,
        site_id=site.id,
        checkpoint=checkpoint,
        area=area or (checkpoint.area if checkpoint else None),
        source=source or ("checkpoint" if checkpoint else "anywhere"),
        # The correction clock starts when it was seen, unless the phone's clock is off.
        due_at=due_at(site, severity, moment_of(device_time, received_at, flagged)),
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
        payload_hash=body_hash,
        device_id=device_id,
        photos=[FindingPhoto(position=i, photo_id=p) for i, p in enumerate(photo_ids)],
    )
    db.session.add(finding)
    db.session.flush()
    from dutypwa.repetition import detect_repetition  # D8; imports this module

    detect_repetition(finding, site=site)
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


SOURCE_LABELS = {
    "checkpoint": _l("At a checkpoint"),
    "patrol": _l("Patrol checklist"),
    "handover": _l("Handover"),
    "spotcheck": _l("Spot check"),
    "anywhere": _l("Elsewhere"),
}
