"""The findings pages: report one (form post without a service worker), the open-items
list, one item with its timeline and step forms, and the step form post."""

import uuid

from flask import Blueprint, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from dutypwa.access import roles_required, site_object, site_or_403
from dutypwa.errors import DomainError
from dutypwa.escalation import timeline as escalation_timeline
from dutypwa.extensions import db
from dutypwa.findings.core import CATEGORY_LABELS, SEVERITY_LABELS, place_of, record_finding
from dutypwa.findings.lists import PAGE_SIZE, labels, list_filters, list_page
from dutypwa.http import is_htmx, render
from dutypwa.models import MAX_PHOTOS, Checkpoint, Finding, FindingEvent, Photo, Site, utcnow
from dutypwa.nonconformities import (
    after_photos,
    latest_recheck,
    parse_step,
    record_step,
    site_people,
    steps_for,
)
from dutypwa.patrol import PATROL_ROLES, parse_device_time
from dutypwa.photos import store_photo

bp = Blueprint("findings", __name__)


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
        op_id = form_op_id(form)
        checkpoint, area = place_of(
            site, checkpoint_token=form.get("checkpoint_token"), area_id=form.get("area_id")
        )
        files = uploads()
        photo_ids = store_uploads(site, op_id, files)
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


def form_op_id(form) -> str:
    try:
        return str(uuid.UUID(form.get("op_id", "")))
    except ValueError:
        raise DomainError(_("The form is missing its id. Reload and try again.")) from None


def uploads() -> list:
    files = [f for f in request.files.getlist("photos") if f and f.filename]
    if len(files) > MAX_PHOTOS:
        raise DomainError(_("At most %(n)d photos.", n=MAX_PHOTOS))
    return files


def upload_ids(op_id: str, files: list) -> list[str]:
    # Ids derived from the op's, so a resent form stores each photo once.
    return [str(uuid.uuid5(uuid.UUID(op_id), f"photo/{index}")) for index in range(len(files))]


def store_uploads(site: Site, op_id: str, files: list) -> list[str]:
    photo_ids = upload_ids(op_id, files)
    for photo_id, upload in zip(photo_ids, files, strict=True):
        store_photo(photo_id, upload.read(), site=site, by=current_user, sha256=None)
    return photo_ids


def _refused(site: Site, message: str, status: int):
    context = _form_context(site, error=message, form=request.form)
    context["op_id"] = request.form.get("op_id") or context["op_id"]
    return render("findings/new.html", "findings/_form.html", status=status, **context)


@bp.get("/s/<site_code>/findings")
@roles_required(*PATROL_ROLES)
def index(site_code: str):
    """Open nonconformities (or those the filters ask for), 50 a page; overdue flagged."""
    site = site_or_403(site_code)
    people = site_people(site)
    filters = list_filters(site, people)
    now = utcnow()
    rows = list_page(site, filters, user=current_user, now=now)
    return render(
        "findings/index.html",
        "findings/_list.html",
        site=site,
        findings=rows[:PAGE_SIZE],
        more=len(rows) > PAGE_SIZE,
        filters=filters,
        query_args={k: v for k, v in request.args.items() if k != "page" and v},
        now=now,
        people=people,
        **labels(site),
    )


# One nonconformity: its state, before/after photos, the timeline and the step forms.
# The steps offered as forms (a re-check is answered on patrol, at the check-in).
FORM_STEPS = ("assign", "correct", "verify_pass", "verify_fail", "close_deduct", "comment")


def detail_context(site: Site, finding: Finding, **extra) -> dict:
    events = db.session.scalars(
        select(FindingEvent)
        .where(FindingEvent.finding_id == finding.id)
        .order_by(FindingEvent.ordinal)
        .options(joinedload(FindingEvent.by), joinedload(FindingEvent.assignee))
    ).all()
    before = [p.photo_id for p in finding.photos]
    after = after_photos(finding)
    every_photo = {*before, *(p for event in events for p in event.photo_ids)}
    arrived = set(db.session.scalars(select(Photo.id).where(Photo.id.in_(every_photo))))
    steps = [action for action in steps_for(finding, current_user) if action in FORM_STEPS]
    context = {
        "site": site,
        "finding": finding,
        "events": events,
        "before": before,
        "after": after,
        "arrived": arrived,
        "steps": steps,
        "op_ids": {action: str(uuid.uuid4()) for action in steps},
        "people": site_people(site) if "assign" in steps else [],
        "recheck": latest_recheck(finding),
        "escalations": escalation_timeline(finding=finding),
        "now": utcnow(),
        "max_photos": MAX_PHOTOS,
        "form": {},
        **labels(site),
    }
    context.update(extra)
    return context


@bp.get("/s/<site_code>/findings/<finding_id>")
@roles_required(*PATROL_ROLES)
def show(site_code: str, finding_id: str):
    site = site_or_403(site_code)
    finding = site_object(Finding, finding_id, site)
    return render("findings/show.html", **detail_context(site, finding))


@bp.post("/s/<site_code>/findings/<finding_id>/steps")
@roles_required(*PATROL_ROLES)
def step(site_code: str, finding_id: str):
    """A step form posted without a service worker (with it, the outbox sends the same
    fields as a "finding_step" op): parse_step + record_step, as the sync API does."""
    site = site_or_403(site_code)
    finding = site_object(Finding, finding_id, site)
    form = request.form
    try:
        op_id = form_op_id(form)
        files = uploads()
        parsed = parse_step(site, form, upload_ids(op_id, files))
        store_uploads(site, op_id, files)
        event, created = record_step(
            finding,
            by=current_user,
            op_id=op_id,
            device_time=parse_device_time(form.get("device_time")),
            **parsed,
        )
    except DomainError as error:
        db.session.rollback()
        context = detail_context(site, finding, error=error.message, form=form)
        context["op_ids"][form.get("action")] = form.get("op_id") or str(uuid.uuid4())
        return render("findings/show.html", "findings/_steps.html", status=error.status, **context)
    db.session.commit()
    return render(
        "findings/show.html",
        "findings/_step_done.html",
        status=201 if created else 200,
        **detail_context(site, finding, event=event, created=created, oob=is_htmx()),
    )


# What a person sees once a write queued on their phone reached the server (pwa.op_result):
# the same partial its form post answers with; None until it has arrived.


def finding_result(op_id: str):
    finding = db.session.get(Finding, op_id)
    if finding is None:
        return None
    site = site_or_403(db.session.get(Site, finding.site_id).code)
    return render(
        "findings/done.html", "findings/_done.html", site=site, finding=finding, created=True
    )


def step_result(op_id: str):
    """The step's answer with the item's state, photos and timeline swapped out of band."""
    event = db.session.get(FindingEvent, op_id)
    if event is None:
        return None
    finding = event.finding
    site = site_or_403(db.session.get(Site, finding.site_id).code)
    return render(
        "findings/show.html",
        "findings/_step_done.html",
        **detail_context(site, finding, event=event, created=True, oob=is_htmx()),
    )
