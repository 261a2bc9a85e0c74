"""The duty-log pages: the day's list, the entry form (outboxed: without a service worker
it posts here), an entry with its steps and escalations, and the shift's duty record."""

import uuid
from datetime import date

from flask import Blueprint, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from dutypwa.access import roles_required, site_object, site_or_403
from dutypwa.dutylog.entries import (
    KIND_LABELS,
    STATUS_LABELS,
    STEP_LABELS,
    parse_entry,
    parse_entry_step,
    record_entry,
    record_entry_step,
    steps_for,
)
from dutypwa.dutylog.registers import STATE_LABELS as FOLLOW_UP_STATE_LABELS
from dutypwa.dutylog.registers import TYPE_LABELS, TYPE_OF_KIND, follow_up_of
from dutypwa.dutylog.shifts import (
    SHIFTS,
    current_shift,
    day_bounds,
    duty_record,
    entries_query,
    night_items,
    shift_window,
)
from dutypwa.errors import DomainError
from dutypwa.escalation import timeline as escalation_timeline
from dutypwa.extensions import db
from dutypwa.http import is_htmx, render
from dutypwa.models import DutyEntry, DutyEntryEvent, Post, Site, utcnow
from dutypwa.models.dutylog import ENTRY_KINDS, ENTRY_STATES
from dutypwa.nonconformities import team_label
from dutypwa.patrol import PATROL_ROLES, parse_device_time

bp = Blueprint("dutylog", __name__)
LOG_ROLES = PATROL_ROLES  # every role of the site
LABELS = {
    "kinds": KIND_LABELS,
    "statuses": STATUS_LABELS,
    "step_labels": STEP_LABELS,
    "follow_up_types": TYPE_LABELS,
    "follow_up_states": FOLLOW_UP_STATE_LABELS,
    "step_titles": {
        "update": _l("Update the handling"),
        "close": _l("Close the entry"),
        "reopen": _l("Reopen the entry"),
        "comment": _l("Add a comment"),
    },
    "step_buttons": {
        "update": _l("Save"),
        "close": _l("Close it"),
        "reopen": _l("Reopen it"),
        "comment": _l("Add the comment"),
    },
    "team_label": team_label,
    "uuid4": uuid.uuid4,
}


def parse_day(raw: str | None, site: Site) -> date:
    if not raw:
        return site.now().date()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise DomainError(_("Give the date as YYYY-MM-DD."), 400) from None


@bp.get("/s/<site_code>/log")
@roles_required(*LOG_ROLES)
def index(site_code: str):
    """The day's entries (the site's local day), newest first, with filters; today also
    what the night shift left (D7)."""
    site = site_or_403(site_code)
    kind, status = request.args.get("kind", ""), request.args.get("status", "")
    if (kind and kind not in ENTRY_KINDS) or (status and status not in ENTRY_STATES):
        raise DomainError(_("Choose a kind and a status from the lists."), 400)
    raw_day = request.args.get("date", "")
    every_day = raw_day == "all"
    day = site.now().date() if every_day else parse_day(raw_day, site)
    query = entries_query(site, *(() if every_day else day_bounds(site, day))).limit(300)
    if kind:
        query = query.where(DutyEntry.kind == kind)
    if status:
        query = query.where(DutyEntry.status == status)
    today = day == site.now().date() and not every_day
    return render(
        "dutylog/index.html",
        site=site,
        entries=db.session.scalars(query).all(),
        night=night_items(site, utcnow()) if today else [],
        day=day,
        every_day=every_day,
        today=today,
        filters={"kind": kind, "status": status, "date": raw_day},
        now=utcnow(),
        type_of_kind=TYPE_OF_KIND,
        **LABELS,
    )


def _form_context(site: Site, **extra) -> dict:
    context = {
        "site": site,
        "areas": site.areas,
        "posts": site.posts,
        "op_id": str(uuid.uuid4()),
        "form": {},
        **LABELS,
    }
    context.update(extra)
    return context


@bp.get("/s/<site_code>/log/new")
@roles_required(*LOG_ROLES)
def new(site_code: str):
    site = site_or_403(site_code)
    kind = request.args.get("kind", "")
    return render("dutylog/new.html", **_form_context(site, form={"kind": kind}))


@bp.post("/s/<site_code>/log")
@roles_required(*LOG_ROLES)
def create(site_code: str):
    """The entry form without a service worker (with one, it is queued as a duty_entry op)."""
    site = site_or_403(site_code)
    form = request.form
    try:
        op_id = str(uuid.UUID(form.get("op_id", "")))
        entry, created = record_entry(
            site,
            by=current_user,
            op_id=op_id,
            device_time=parse_device_time(form.get("device_time")),
            **parse_entry(site, form),
        )
    except ValueError:
        return _entry_refused(site, _("The form is missing its id. Reload and try again."), 422)
    except DomainError as error:
        return _entry_refused(site, error.message, error.status)
    db.session.commit()
    return render(
        "dutylog/entry_done.html",
        "dutylog/_entry_done.html",
        status=201 if created else 200,
        site=site,
        entry=entry,
        created=created,
        **LABELS,
    )


def _entry_refused(site: Site, message: str, status: int):
    db.session.rollback()
    context = _form_context(site, error=message, form=request.form)
    context["op_id"] = request.form.get("op_id") or context["op_id"]
    return render("dutylog/new.html", "dutylog/_entry_form.html", status=status, **context)


def _entry_context(site: Site, entry: DutyEntry, **extra) -> dict:
    escalations = escalation_timeline(entry=entry)
    return {
        "site": site,
        "entry": entry,
        "escalations": escalations,
        "steps": steps_for(entry, current_user),
        "follow_up": follow_up_of(entry),
        "follow_up_type": TYPE_OF_KIND.get(entry.kind),
        "teams": site.setting("teams"),
        "now": utcnow(),
        "errors": {},
        "forms": {},
        **LABELS,
        **extra,
    }


@bp.get("/s/<site_code>/log/<entry_id>")
@roles_required(*LOG_ROLES)
def show(site_code: str, entry_id: str):
    site = site_or_403(site_code)
    entry = site_object(DutyEntry, entry_id, site)
    return render("dutylog/show.html", **_entry_context(site, entry))


@bp.post("/s/<site_code>/log/<entry_id>/steps")
@roles_required(*LOG_ROLES)
def step(site_code: str, entry_id: str):
    """A step without a service worker (with one, it is queued as a duty_step op)."""
    site = site_or_403(site_code)
    entry = site_object(DutyEntry, entry_id, site)
    form = request.form
    try:
        op_id = str(uuid.UUID(form.get("op_id", "")))
        event, created = record_entry_step(
            entry,
            by=current_user,
            op_id=op_id,
            device_time=parse_device_time(form.get("device_time")),
            **parse_entry_step(form),
        )
    except ValueError:
        return _step_refused(site, entry, _("The form is missing its id. Reload and try again."))
    except DomainError as error:
        return _step_refused(site, entry, error.message, error.status)
    db.session.commit()
    if not is_htmx():
        return redirect(url_for(".show", site_code=site.code, entry_id=entry.id), 303)
    return render(
        "dutylog/show.html",
        "dutylog/_step_done.html",
        status=201 if created and event.outcome == "applied" else 200,
        **_entry_context(site, entry, event=event, oob=True),
    )


def _step_refused(site: Site, entry: DutyEntry, message: str, status: int = 422):
    db.session.rollback()
    action = request.form.get("action", "")
    context = _entry_context(
        site, entry, errors={action: message}, forms={action: request.form}, action=action
    )
    context["error"] = message
    return render("dutylog/show.html", "dutylog/_step_form.html", status=status, **context)


@bp.get("/s/<site_code>/log/record")
@roles_required(*LOG_ROLES)
def record(site_code: str):
    """D5: the duty record of one shift (and post), printable on A4."""
    site = site_or_403(site_code)
    name = request.args.get("shift", "")
    if name and name not in SHIFTS:
        raise DomainError(_("The shift is either day or night."), 400)
    if request.args.get("date") or name:
        shift = shift_window(site, parse_day(request.args.get("date"), site), name or "day")
    else:
        shift = current_shift(site, utcnow())
    post = None
    raw_post = request.args.get("post", "")
    if raw_post:
        if not raw_post.isdigit():
            raise DomainError(_("There is no such post at this site."), 400)
        post = site_object(Post, int(raw_post), site)
    return render(
        "dutylog/record.html",
        site=site,
        post=post,
        record=duty_record(site, shift, post.id if post else None),
        now=utcnow(),
        **LABELS,
    )


# What a person sees once a write queued on their phone reached the server (pwa.op_result):
# the same partial its form post answers with; None until it has arrived.


def entry_result(op_id: str):
    entry = db.session.get(DutyEntry, op_id)
    if entry is None:
        return None
    site = site_or_403(entry.site.code)
    return render(
        "dutylog/entry_done.html",
        "dutylog/_entry_done.html",
        site=site,
        entry=entry,
        created=True,
        **LABELS,
    )


def step_result(op_id: str):
    event = db.session.get(DutyEntryEvent, op_id)
    if event is None:
        return None
    entry = event.entry
    site = site_or_403(entry.site.code)
    return render(
        "dutylog/show.html",
        "dutylog/_step_done.html",
        **_entry_context(site, entry, event=event, oob=is_htmx()),
    )
