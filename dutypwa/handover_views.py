"""The handover's paper trail (交接班记录本): the printable record of one handover, the
chain of handovers at a post, the shifts one person handed over or took over, and both
histories as CSV and Excel for the office.

Read-only: the handover is made on the station (dutypwa/station.py) or through the sync
API; these pages only read what was recorded.
"""

import csv
import io
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, abort, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from dutypwa.access import roles_required, site_object, site_or_403
from dutypwa.extensions import db
from dutypwa.handover import CONDITION_LABELS, SIGNATURE, shift_end_after
from dutypwa.handover_rules import STEP_TITLES
from dutypwa.http import render
from dutypwa.models import (
    DutyEntry,
    Finding,
    Handover,
    Post,
    PostDuty,
    Site,
    User,
    site_members,
    utcnow,
)

bp = Blueprint("handover_views", __name__)

EVERYONE = ("staff", "supervisor", "director", "admin")
PER_PAGE = 50
STATUS_LABELS = {
    "open": _l("Not yet signed"),
    "signed": _l("Signed"),
    "cancelled": _l("Cancelled"),
}


# Signatures


def signature_svg(path: str | None, label: str = "") -> Markup:
    """A stored signature as inline SVG, or an empty string. The path is checked against
    the same pattern the handover accepted (moves, lines and numbers only) and escaped."""
    if not path or not SIGNATURE.match(path):
        return Markup("")
    box = _bounds(path)
    if box is None:
        return Markup("")
    left, top, right, bottom = box
    pad = 6
    view = f"{left - pad:g} {top - pad:g} {right - left + 2 * pad:g} {bottom - top + 2 * pad:g}"
    return Markup(
        '<svg class="signature" xmlns="http://www.w3.org/2000/svg" viewBox="{view}" '
        'role="img" aria-label="{label}"><path d="{path}" fill="none" stroke="currentColor" '
        'stroke-width="3" stroke-linecap="round" stroke-linejoin="round"/></svg>'
    ).format(view=view, label=label, path=path)


_TOKEN = re.compile(r"[MLml]|-?(?:\d+\.?\d*|\.\d+)")


def _bounds(path: str) -> tuple[float, float, float, float] | None:
    """The box the drawn path covers, walking absolute (M, L) and relative (m, l) moves."""
    x = y = 0.0
    xs, ys = [], []
    command, numbers = "M", []
    for token in _TOKEN.findall(path):
        if token in "MLml":
            command, numbers = token, []
            continue
        numbers.append(float(token))
        if len(numbers) < 2:
            continue
        dx, dy = numbers
        numbers = []
        if command in "ml":
            x, y = x + dx, y + dy
        else:
            x, y = dx, dy
        xs.append(x)
        ys.append(y)
        # Further pairs after a move are lines (SVG's implicit command).
        command = {"M": "L", "m": "l"}.get(command, command)
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


# The record


def _inventory_event(handover: Handover):
    events = [e for e in handover.events if e.action == "inventory" and e.outcome == "applied"]
    return events[-1] if events else None


def discrepancy_findings(handover: Handover) -> dict[int, Finding]:
    """H2: the nonconformity each discrepancy raised, by the item's index."""
    event = _inventory_event(handover)
    if event is None:
        return {}
    wanted = {
        str(uuid.uuid5(uuid.UUID(event.id), f"inventory/{index}")): index
        for index, item in enumerate(handover.inventory or [])
        if item.get("discrepancy")
    }
    if not wanted:
        return {}
    found = db.session.scalars(
        select(Finding).where(Finding.id.in_(list(wanted)), Finding.site_id == handover.site_id)
    ).all()
    return {wanted[finding.id]: finding for finding in found}


def _entries(handover: Handover) -> dict[str, DutyEntry]:
    ids = [item["entry"] for item in (handover.carried or []) + (handover.completed or [])]
    if not ids:
        return {}
    rows = db.session.scalars(
        select(DutyEntry).where(DutyEntry.id.in_(ids), DutyEntry.site_id == handover.site_id)
    ).all()
    return {entry.id: entry for entry in rows}


def shift_label(site: Site, post: Post, start: datetime) -> str:
    """ "08:00–20:00": the shift a handover starts, in the site's time."""
    end = shift_end_after(post, site, start)
    text = site.local(start).strftime("%H:%M")
    return f"{text}–{site.local(end).strftime('%H:%M')}" if end else text


@bp.get("/s/<site_code>/handovers/<handover_id>")
@roles_required(*EVERYONE)
def record(site_code: str, handover_id: str):
    """The printable record of one handover, laid out like the paper 交接班记录本."""
    site = site_or_403(site_code)
    handover = site_object(Handover, handover_id, site)
    duty = db.session.get(PostDuty, handover.post_id)
    return render(
        "handover/record.html",
        site=site,
        handover=handover,
        post=handover.post,
        shift=shift_label(site, handover.post, handover.shift_start),
        findings=discrepancy_findings(handover),
        entries=_entries(handover),
        conditions=CONDITION_LABELS,
        statuses=STATUS_LABELS,
        steps=STEP_TITLES,
        incoming_signature=signature_svg(handover.incoming_signature, _("Relief's signature")),
        outgoing_signature=signature_svg(
            handover.outgoing_signature, _("Outgoing person's signature")
        ),
        on_duty=duty if duty and duty.handover_id == handover.id else None,
        now=utcnow(),
    )


# Histories


@dataclass(frozen=True)
class Row:
    """One handover on a history page or in an export."""

    handover: Handover
    date: str
    shift: str
    discrepancies: int
    carried: int

    @property
    def lateness(self) -> str:
        return lateness_text(self.handover)


def lateness_text(handover: Handover) -> str:
    if handover.on_time:
        return _("On time")
    return _("Late %(n)d min", n=handover.late_minutes)


def rows_for(site: Site, handovers) -> list[Row]:
    return [
        Row(
            handover=h,
            date=site.local(h.shift_start).strftime("%Y-%m-%d"),
            shift=shift_label(site, h.post, h.shift_start),
            discrepancies=sum(1 for item in h.inventory or [] if item.get("discrepancy")),
            carried=len(h.carried or []),
        )
        for h in handovers
    ]


def _history(site: Site, condition, page: int | None):
    statement = (
        select(Handover)
        .where(Handover.site_id == site.id, condition)
        .options(
            selectinload(Handover.post),
            selectinload(Handover.outgoing),
            selectinload(Handover.incoming),
        )
        .order_by(Handover.shift_start.desc(), Handover.arrived_at.desc())
    )
    if page is None:
        return rows_for(site, db.session.scalars(statement).all()), 0
    total = db.session.scalar(
        select(func.count()).select_from(Handover).where(Handover.site_id == site.id, condition)
    )
    handovers = db.session.scalars(statement.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return rows_for(site, handovers), total


def _page() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        abort(400, description=_("The page is a number from 1."))
    return int(raw)


def _person(site: Site, user_id: int) -> User:
    """A member of the site; staff may only see their own shifts."""
    person = db.session.get(User, user_id)
    member = person is not None and db.session.scalar(
        select(site_members.c.user_id).where(
            site_members.c.site_id == site.id, site_members.c.user_id == user_id
        )
    )
    if not member:
        abort(404, description=_("There is no such person at this site."))
    if not current_user.is_manager and person.id != current_user.id:
        abort(403, description=_("You can see only your own shifts."))
    return person


def _of_person(user_id: int):
    return or_(Handover.incoming_id == user_id, Handover.outgoing_id == user_id)


@bp.get("/s/<site_code>/handovers")
@roles_required(*EVERYONE)
def index(site_code: str):
    """Every post with who holds it and its last handover; the people (managers)."""
    site = site_or_403(site_code)
    posts = db.session.scalars(select(Post).where(Post.site_id == site.id).order_by(Post.id)).all()
    duties = {
        duty.post_id: duty
        for duty in db.session.scalars(
            select(PostDuty)
            .where(PostDuty.site_id == site.id)
            .options(selectinload(PostDuty.person))
        )
    }
    last = {}
    for post in posts:
        last[post.id] = db.session.scalar(
            select(Handover)
            .where(Handover.post_id == post.id)
            .order_by(Handover.arrived_at.desc())
            .limit(1)
        )
    if current_user.is_manager:
        people = db.session.scalars(
            select(User)
            .join(site_members, site_members.c.user_id == User.id)
            .where(site_members.c.site_id == site.id, User.active)
            .order_by(User.role.desc(), User.username)
        ).all()
    else:
        people = [current_user]
    return render(
        "handover/index.html",
        site=site,
        posts=posts,
        duties=duties,
        last=last,
        people=people,
        statuses=STATUS_LABELS,
        lateness_text=lateness_text,
        now=utcnow(),
    )


@bp.get("/s/<site_code>/posts/<int:post_id>/handovers")
@roles_required(*EVERYONE)
def post_history(site_code: str, post_id: int):
    """H12 and H11 over time: the chain of handovers at one post, newest first."""
    site = site_or_403(site_code)
    post = site_object(Post, post_id, site)
    page = _page()
    rows, total = _history(site, Handover.post_id == post.id, page)
    return render(
        "handover/history.html",
        site=site,
        title=_("Handovers at %(post)s", post=post.name),
        post=post,
        person=None,
        rows=rows,
        total=total,
        page_number=page,
        pages=max(1, -(-total // PER_PAGE)),
        statuses=STATUS_LABELS,
        csv_url=url_for(".post_csv", site_code=site.code, post_id=post.id),
        xlsx_url=url_for(".post_xlsx", site_code=site.code, post_id=post.id),
        page_url=lambda n: url_for(".post_history", site_code=site.code, post_id=post.id, page=n),
    )


@bp.get("/s/<site_code>/people/<int:user_id>/handovers")
@roles_required(*EVERYONE)
def person_history(site_code: str, user_id: int):
    """The shifts one person took over or handed over."""
    site = site_or_403(site_code)
    person = _person(site, user_id)
    page = _page()
    rows, total = _history(site, _of_person(person.id), page)
    return render(
        "handover/history.html",
        site=site,
        title=_("Shifts of %(name)s", name=person.display_name),
        post=None,
        person=person,
        rows=rows,
        total=total,
        page_number=page,
        pages=max(1, -(-total // PER_PAGE)),
        statuses=STATUS_LABELS,
        csv_url=url_for(".person_csv", site_code=site.code, user_id=person.id),
        xlsx_url=url_for(".person_xlsx", site_code=site.code, user_id=person.id),
        page_url=lambda n: url_for(
            ".person_history", site_code=site.code, user_id=person.id, page=n
        ),
    )


# Exports


def export_header() -> list[str]:
    return [
        _("Date"),
        _("Shift"),
        _("Post"),
        _("Outgoing"),
        _("Incoming"),
        _("Arrived"),
        _("On time"),
        _("Minutes late"),
        _("Discrepancies"),
        _("Carried over"),
        _("Status"),
        _("Relief signed"),
        _("Outgoing signed"),
        _("Supervisor override"),
        _("Record"),
    ]


def export_rows(site: Site, rows: list[Row]) -> list[list]:
    def when(moment):
        return site.local(moment).strftime("%Y-%m-%d %H:%M") if moment else ""

    result = []
    for row in rows:
        h = row.handover
        result.append(
            [
                row.date,
                row.shift,
                h.post.name,
                h.outgoing.display_name if h.outgoing else "",
                h.incoming.display_name,
                when(h.arrived_at),
                _("yes") if h.on_time else _("no"),
                h.late_minutes,
                row.discrepancies,
                row.carried,
                str(STATUS_LABELS.get(h.status, h.status)),
                when(h.incoming_signed_at),
                when(h.outgoing_signed_at),
                h.override_reason if h.override_by_id else "",
                url_for(".record", site_code=site.code, handover_id=h.id, _external=True),
            ]
        )
    return result


def _csv(site: Site, rows: list[Row], name: str):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(export_header())
    writer.writerows(export_rows(site, rows))
    # A BOM so that Excel opens the UTF-8 file with the Chinese text intact.
    return (
        "\ufeff" + buffer.getvalue(),
        200,
        {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}.csv"',
        },
    )


def _xlsx(site: Site, rows: list[Row], name: str, title: str):
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = _("Handovers")[:31]
    sheet.append(export_header())
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for values in export_rows(site, rows):
        sheet.append(values)
    widths = (12, 13, 16, 10, 10, 17, 8, 8, 8, 8, 10, 17, 17, 24, 40)
    for column, width in zip(sheet.columns, widths, strict=False):
        sheet.column_dimensions[column[0].column_letter].width = width
    sheet.freeze_panes = "A2"
    book.properties.title = title
    buffer = io.BytesIO()
    book.save(buffer)
    return (
        buffer.getvalue(),
        200,
        {
            "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "Content-Disposition": f'attachment; filename="{name}.xlsx"',
        },
    )


@bp.get("/s/<site_code>/posts/<int:post_id>/handovers.csv")
@roles_required(*EVERYONE)
def post_csv(site_code: str, post_id: int):
    site = site_or_403(site_code)
    post = site_object(Post, post_id, site)
    rows, _total = _history(site, Handover.post_id == post.id, None)
    return _csv(site, rows, f"handovers-{site.code}-post-{post.id}")


@bp.get("/s/<site_code>/posts/<int:post_id>/handovers.xlsx")
@roles_required(*EVERYONE)
def post_xlsx(site_code: str, post_id: int):
    site = site_or_403(site_code)
    post = site_object(Post, post_id, site)
    rows, _total = _history(site, Handover.post_id == post.id, None)
    title = _("Handovers at %(post)s", post=post.name)
    return _xlsx(site, rows, f"handovers-{site.code}-post-{post.id}", title)


@bp.get("/s/<site_code>/people/<int:user_id>/handovers.csv")
@roles_required(*EVERYONE)
def person_csv(site_code: str, user_id: int):
    site = site_or_403(site_code)
    person = _person(site, user_id)
    rows, _total = _history(site, _of_person(person.id), None)
    return _csv(site, rows, f"handovers-{site.code}-person-{person.id}")


@bp.get("/s/<site_code>/people/<int:user_id>/handovers.xlsx")
@roles_required(*EVERYONE)
def person_xlsx(site_code: str, user_id: int):
    site = site_or_403(site_code)
    person = _person(site, user_id)
    rows, _total = _history(site, _of_person(person.id), None)
    title = _("Shifts of %(name)s", name=person.display_name)
    return _xlsx(site, rows, f"handovers-{site.code}-person-{person.id}", title)
