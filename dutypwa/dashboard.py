"""Live coverage for supervisors: every checkpoint's last visit and its status.

Answered from the current-state table (checkpoint_state), so the cost grows with the
number of checkpoints, not with years of check-ins. The partial is polled by htmx every
few seconds and answers 304 when nothing it shows can have changed.
"""

import hashlib
from collections import defaultdict

from flask import Blueprint, current_app, request
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import func, select

from dutypwa.access import roles_required, site_or_403
from dutypwa.extensions import db
from dutypwa.http import render
from dutypwa.models import (
    MANAGERS,
    Area,
    Checkpoint,
    CheckpointState,
    Route,
    RouteStop,
    User,
    utcnow,
)
from dutypwa.models.patrol import round_status

bp = Blueprint("dashboard", __name__)

SEVERITY = {"never": 3, "overdue": 2, "due": 1, "on_time": 0}


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
    key = (
        f"{site.id}|{states}|{checkpoints}|{routes}|{now:%Y%m%d%H%M}"
        f"|{get_locale()}|{current_user.id}"
    )
    return hashlib.sha1(key.encode()).hexdigest()


def coverage_rows(site, now) -> list[dict]:
    """One row per active checkpoint: last visit and its worst status over its routes."""
    rows = db.session.execute(
        select(Checkpoint, CheckpointState, Area.name, User.display_name)
        .outerjoin(CheckpointState, CheckpointState.checkpoint_id == Checkpoint.id)
        .outerjoin(User, User.id == CheckpointState.last_user_id)
        .outerjoin(Area, Area.id == Checkpoint.area_id)
        .where(Checkpoint.site_id == site.id, Checkpoint.active)
        .order_by(Area.position, Area.name, Checkpoint.code)
    ).all()
    routes = db.session.scalars(select(Route).where(Route.site_id == site.id, Route.active)).all()
    runs = {route.id: route.last_run(now) for route in routes}
    routes_of = defaultdict(list)
    for route_id, checkpoint_id in db.session.execute(
        select(RouteStop.route_id, RouteStop.checkpoint_id).where(
            RouteStop.route_id.in_(list(runs))
        )
    ):
        routes_of[checkpoint_id].append(route_id)

    result = []
    for checkpoint, state, area_name, last_user_name in rows:
        last_visit = state.last_visit_at if state else None
        if last_visit is None:
            status = "never"
        else:
            statuses = [round_status(runs[r], last_visit, now) for r in routes_of[checkpoint.id]]
            status = max(statuses or ["on_time"], key=SEVERITY.get)
        result.append(
            {
                "checkpoint": checkpoint,
                "state": state,
                "last_user_name": last_user_name,
                "area": area_name,
                "status": status,
                "scheduled": bool(routes_of[checkpoint.id]),
            }
        )
    return result


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
        totals[row["status"]] += 1
    response = render(
        "dashboard/coverage.html",
        "dashboard/_coverage.html",
        site=site,
        rows=rows,
        totals=totals,
        now=now,
        refresh=current_app.config["COVERAGE_REFRESH_SECONDS"],
        etag=etag,
    )
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache, private"
    return response
