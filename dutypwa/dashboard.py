"""Live coverage for supervisors: every checkpoint's last visit and its status.

Answered from the current-state table (checkpoint_state), so the cost grows with the
number of checkpoints, not with years of check-ins. The partial is polled by htmx every
few seconds and answers 304 when nothing it shows can have changed.
"""

import hashlib
import html
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Blueprint, current_app, get_template_attribute, request
from flask_babel import get_locale, gettext
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from dutypwa.access import roles_required, site_or_403
from dutypwa.extensions import db
from dutypwa.handover import relief_overdue
from dutypwa.http import local_time, render
from dutypwa.models import (
    MANAGERS,
    Area,
    Checkpoint,
    CheckpointState,
    Device,
    Handover,
    Post,
    PostDuty,
    RosterEntry,
    RosterMonth,
    Route,
    RouteStop,
    User,
    site_members,
    utcnow,
)
from dutypwa.models.checkpoint import listing_order
from dutypwa.models.patrol import RoundMarks, RouteRun

bp = Blueprint("dashboard", __name__)

SEVERITY = {"never": 3, "overdue": 2, "due": 1, "on_time": 0}
NEVER = datetime.min.replace(tzinfo=UTC)  # before any visit: "not due / overdue on any route"


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """One checkpoint on the coverage table."""

    id: int
    name: str
    code: str
    area: str | None
    last_visit_at: datetime | None
    last_user_name: str | None
    status: str
    scheduled: bool


def coverage_etag(site, now) -> str:
    """Changes whenever a check-in, a checkpoint or a route changes, and every minute."""
    states = db.session.execute(
        select(func.max(CheckpointState.updated_at), func.count()).where(
            CheckpointState.site_id == site.id
        )
    ).one()
    checkpoints = db.session.execute(
        select(func.max(Checkpoint.updated_at), func.count()).where(Checkpoint.site_id == site.id)
    ).one()
    routes = db.session.execute(
        select(func.max(Route.updated_at), func.count()).where(Route.site_id == site.id)
    ).one()
    devices = db.session.execute(
        select(func.max(Device.last_sync_at), func.sum(Device.outbox_size)).where(
            Device.user_id.in_(site_member_ids(site))
        )
    ).one()
    # Posts: who is on duty (changes when a handover is signed) and the open handovers
    # with their steps; relief overdue (H10) turns with the minute below.
    posts = db.session.execute(
        select(func.count(), func.max(Post.id)).where(Post.site_id == site.id)
    ).one()
    duties = db.session.execute(
        select(func.max(PostDuty.updated_at), func.count()).where(PostDuty.site_id == site.id)
    ).one()
    handovers = db.session.execute(
        select(func.count(), func.sum(Handover.events_count), func.max(Handover.arrived_at)).where(
            Handover.site_id == site.id, Handover.status == "open"
        )
    ).one()
    # Who the published roster has at each post (changes with an amendment).
    rosters = db.session.execute(
        select(func.sum(RosterMonth.version), func.count()).where(
            RosterMonth.site_id == site.id, RosterMonth.status == "published"
        )
    ).one()
    key = (
        f"{site.id}|{states}|{checkpoints}|{routes}|{devices}|{posts}|{duties}|{handovers}"
        f"|{rosters}"
        f"|{now:%Y%m%d%H%M}|{get_locale()}|{current_user.id}"
    )
    return hashlib.sha1(key.encode()).hexdigest()


def site_member_ids(site):
    return select(site_members.c.user_id).where(site_members.c.site_id == site.id)


def devices_holding_work(site) -> list:
    """Phones of this site's people whose outbox held unsynced work at their last sync."""
    return db.session.execute(
        select(Device, User.display_name)
        .join(User, User.id == Device.user_id)
        .where(Device.user_id.in_(site_member_ids(site)), Device.outbox_size > 0)
        .order_by(Device.oldest_pending_at.nulls_last(), Device.last_sync_at)
    ).all()


def coverage_rows(site, now) -> list[CoverageRow]:
    """One row per active checkpoint: last visit and its worst status over its routes."""
    # Plain columns in CoverageRow's order, not ORM objects: this runs on every poll.
    rows = db.session.execute(
        select(
            Checkpoint.id,
            Checkpoint.name,
            Checkpoint.code,
            Area.name.label("area"),
            CheckpointState.last_visit_at,
            User.display_name.label("last_user_name"),
        )
        .outerjoin(CheckpointState, CheckpointState.checkpoint_id == Checkpoint.id)
        .outerjoin(User, User.id == CheckpointState.last_user_id)
        .outerjoin(Area, Area.id == Checkpoint.area_id)
        .where(Checkpoint.site_id == site.id, Checkpoint.active)
        .order_by(*listing_order())
    ).all()
    routes = db.session.scalars(select(Route).where(Route.site_id == site.id, Route.active)).all()
    marks = {route.id: marks_in_utc(route.last_run(now), now) for route in routes}
    # The worst status over a checkpoint's routes is the one its latest marks give: keep
    # two moments per checkpoint rather than a list of routes and a status for each (this
    # page allocated tens of thousands of objects per poll, and the collector's full
    # passes made its slowest answers; bench/coverage.py).
    due_before: dict[int, datetime] = {}
    overdue_before: dict[int, datetime] = {}
    scheduled = set()
    for route_id, checkpoint_id in db.session.execute(
        select(RouteStop.route_id, RouteStop.checkpoint_id).where(
            RouteStop.route_id.in_(list(marks))
        )
    ):
        scheduled.add(checkpoint_id)
        route_marks = marks[route_id]
        if route_marks is None:
            continue
        if route_marks.due_before > due_before.get(checkpoint_id, NEVER):
            due_before[checkpoint_id] = route_marks.due_before
        if (route_marks.overdue_before or NEVER) > overdue_before.get(checkpoint_id, NEVER):
            overdue_before[checkpoint_id] = route_marks.overdue_before

    result = []
    for row in rows:
        last_visit = row.last_visit_at
        if last_visit is None:
            status = "never"
        elif last_visit < overdue_before.get(row.id, NEVER):
            status = "overdue"
        elif last_visit < due_before.get(row.id, NEVER):
            status = "due"
        else:
            status = "on_time"
        result.append(CoverageRow(*row, status=status, scheduled=row.id in scheduled))
    return result


def checkpoint_rows(rows: list[CoverageRow], badges: dict, site) -> Markup:
    """The coverage table's rows, a group row before each area, as one piece of markup.

    Made here rather than in the template: with thousands of checkpoints, each template
    expression per row made a Markup object, tens of thousands per poll, about half of
    what the page allocated, and the garbage collector's passes over them made the
    slowest answers (bench/coverage.py). Everything a person typed is escaped here."""
    no_area = html.escape(gettext("No area"))
    parts, area = [], ""
    for row in rows:
        if row.area != area:
            area = row.area
            name = html.escape(area) if area else no_area
            parts.append(f'<tr class="group"><th colspan="3">{name}</th></tr>')
        if row.last_visit_at is None:
            visit = "—"
        else:
            who = html.escape(row.last_user_name or "")
            visit = f"{local_time(row.last_visit_at, site)} <small>{who}</small>"
        parts.append(
            f'<tr id="cp-{row.id}" class="status-{row.status}">'
            f'<td>{html.escape(row.name)} <small class="code">{html.escape(row.code)}</small></td>'
            f"<td>{visit}</td><td>{badges[row.status]}</td></tr>"
        )
    return Markup("".join(parts))


@dataclass(frozen=True, slots=True)
class PostRow:
    """One post on the coverage page: who holds it, and whether the relief is late."""

    post: Post
    duty: PostDuty | None
    open_handover: Handover | None
    last: Handover | None  # the latest handover not cancelled (H11: its lateness)
    overdue: bool  # H10: the shift ended and nobody signed: the person stays
    rostered: tuple = ()  # who the published roster has on duty here now
    absent: tuple = ()  # H11: rostered, the shift has begun, and not checked in here


def post_rows(site, now) -> list[PostRow]:
    """Every post of the site with its current duty (H10) and its last handover (H11):
    a fixed number of statements, whatever the length of the history."""
    posts = db.session.scalars(select(Post).where(Post.site_id == site.id).order_by(Post.id)).all()
    if not posts:
        return []
    duties = {
        duty.post_id: duty
        for duty in db.session.scalars(
            select(PostDuty)
            .where(PostDuty.site_id == site.id)
            .options(selectinload(PostDuty.person))
        )
    }
    open_ones = {
        handover.post_id: handover
        for handover in db.session.scalars(
            select(Handover)
            .where(Handover.site_id == site.id, Handover.status == "open")
            .options(selectinload(Handover.incoming), selectinload(Handover.outgoing))
        )
    }
    # The last handover of each post: the newest arrival per post, via the
    # (post_id, status) index, one statement for all posts.
    newest = (
        select(Handover.post_id, func.max(Handover.arrived_at).label("arrived_at"))
        .where(Handover.post_id.in_([post.id for post in posts]), Handover.status != "cancelled")
        .group_by(Handover.post_id)
        .subquery()
    )
    last = {
        handover.post_id: handover
        for handover in db.session.scalars(
            select(Handover)
            .join(
                newest,
                (newest.c.post_id == Handover.post_id)
                & (newest.c.arrived_at == Handover.arrived_at),
            )
            .where(Handover.status != "cancelled")
            .options(selectinload(Handover.incoming), selectinload(Handover.outgoing))
        )
    }
    rostered = rostered_now(site, now)
    rows = []
    for post in posts:
        duty, handover = duties.get(post.id), open_ones.get(post.id)
        here = {person.id for person in (duty and duty.person, handover and handover.incoming)
                if person is not None}  # fmt: skip
        entries = tuple(rostered.get(post.id, ()))
        rows.append(
            PostRow(
                post=post,
                duty=duty,
                open_handover=handover,
                last=last.get(post.id),
                overdue=relief_overdue(duty, now),
                rostered=entries,
                absent=tuple(
                    entry
                    for entry in entries
                    if entry.user_id not in here
                    and entry.source != "emergency"  # R7 standby: on call, not at the post
                    and entry.start_at + ABSENT_AFTER <= now
                ),
            )
        )
    return rows


# H11: a rostered person not checked in this long after their shift began is shown absent.
ABSENT_AFTER = timedelta(minutes=15)


def rostered_now(site, now) -> dict[int, list[RosterEntry]]:
    """The published roster's entries at each post whose time (a split shift's segments,
    not its envelope) holds `now`."""
    entries = db.session.scalars(
        select(RosterEntry)
        .join(RosterMonth, RosterMonth.id == RosterEntry.month_id)
        .where(
            RosterEntry.site_id == site.id,
            RosterEntry.status == "planned",
            RosterMonth.status == "published",
            RosterEntry.start_at <= now,
            RosterEntry.end_at > now,
        )
        .options(selectinload(RosterEntry.user), selectinload(RosterEntry.template))
    )
    found: dict[int, list[RosterEntry]] = {}
    for entry in entries:
        if any(start <= now < end for start, end in entry.times):
            found.setdefault(entry.post_id, []).append(entry)
    return found


def marks_in_utc(run: RouteRun | None, now: datetime) -> RoundMarks | None:
    """The run's marks in UTC, like the visits they are compared with: comparing datetimes
    across time zones costs a time-zone look-up each time, thousands of times per page."""
    if run is None:
        return None
    marks = run.marks(now)
    overdue_before = marks.overdue_before and marks.overdue_before.astimezone(UTC)
    return RoundMarks(marks.due_before.astimezone(UTC), overdue_before)


@bp.get("/s/<site_code>/coverage")
@roles_required(*MANAGERS)
def coverage(site_code: str):
    site = site_or_403(site_code)
    now = utcnow()
    etag = coverage_etag(site, now)
    if request.if_none_match.contains(etag):
        response = current_app.response_class(status=304)
        response.set_etag(etag)
        response.vary.add("HX-Request")
        return response
    rows = coverage_rows(site, now)
    totals = dict.fromkeys(SEVERITY, 0)
    for row in rows:
        totals[row.status] += 1
    # A badge's markup depends only on its status: make it once, not once per row.
    status_badge = get_template_attribute("macros.html", "status_badge")
    badges = {status: status_badge(status) for status in SEVERITY}
    response = render(
        "dashboard/coverage.html",
        "dashboard/_coverage.html",
        site=site,
        checkpoint_rows=checkpoint_rows(rows, badges, site),
        totals=totals,
        badges=badges,
        devices=devices_holding_work(site),
        posts=post_rows(site, now),
        now=now,
        refresh=current_app.config["COVERAGE_REFRESH_SECONDS"],
        etag=etag,
    )
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache, private"
    return response
