"""Shifts in the phone's calendar (design d-11): the public feed behind a person's secret
link, the page where they make, replace or stop that link, and a month as an .ics file to
import. The link's secret is shown once, right after it is made; only its hash is kept.
"""

from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from dutypwa.access import roles_required, site_or_403
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.http import is_htmx, render
from dutypwa.models import ROLES, RosterMonth, Site
from dutypwa.roster import core, ics

bp = Blueprint("calendar_feed", __name__)

ICS_TYPE = "text/calendar; charset=utf-8"
# Months offered for download on the page: from last month on.
MONTHS_SHOWN = 4


def _ics_response(body: bytes, headers: dict):
    return current_app.response_class(body, content_type=ICS_TYPE, headers=headers)


@bp.get("/ics/<feed_token>.ics")
def feed(feed_token: str):
    """Public: the secret in the URL is the credential (calendar apps cannot log in)."""
    calendar_feed = ics.feed_for(feed_token)
    if calendar_feed is None:
        abort(404, description=_("This calendar link does not exist or was stopped."))
    body = ics.person_feed(calendar_feed.user)
    response = _ics_response(body, {"Cache-Control": "private, max-age=900"})
    # The file only changes with the roster, so an hourly poll is mostly a 304.
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/s/<site_code>/roster/<month>.ics")
@roles_required(*ROLES)
def month_file(site_code: str, month: str):
    site = site_or_403(site_code)
    roster_month = core.month_of(site, core.parse_month(month))
    if roster_month is None or not roster_month.published:
        raise DomainError(_("The roster of %(month)s is not published.", month=month), 404)
    filename = f"roster-{site.code}-{roster_month.month}.ics"
    body = ics.month_file(current_user, roster_month)
    return _ics_response(body, {"Content-Disposition": f'attachment; filename="{filename}"'})


def _feed_url(token: str) -> str:
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/") or request.host_url.rstrip("/")
    return base + url_for("calendar_feed.feed", feed_token=token)


def _context(site: Site, token: str | None = None) -> dict:
    this_month = site.now().date().replace(day=1)
    last_month = (this_month - timedelta(days=1)).strftime("%Y-%m")
    months = db.session.scalars(
        select(RosterMonth.month)
        .where(
            RosterMonth.site_id == site.id,
            RosterMonth.status == "published",
            RosterMonth.month >= last_month,
        )
        .order_by(RosterMonth.month)
        .limit(MONTHS_SHOWN)
    ).all()
    url = _feed_url(token) if token else None
    return {
        "site": site,
        "feed": ics.active_feed(current_user),
        "url": url,
        "webcal_url": "webcal://" + url.split("://", 1)[1] if url else None,
        "months": months,
    }


def _page(site: Site, token: str | None = None):
    response = render("roster/calendar.html", "roster/_calendar_feed.html", **_context(site, token))
    if token:
        response.headers["Cache-Control"] = "no-store"  # the secret stays out of caches
    return response


@bp.get("/s/<site_code>/roster/calendar")
@roles_required(*ROLES)
def page(site_code: str):
    return _page(site_or_403(site_code))


@bp.post("/s/<site_code>/roster/calendar/feed")
@roles_required(*ROLES)
def create(site_code: str):
    """A new link, which stops the old one; the page shows it this once."""
    site = site_or_403(site_code)
    _feed, token = ics.create_feed(current_user)
    db.session.commit()
    return _page(site, token)


@bp.post("/s/<site_code>/roster/calendar/feed/revoke")
@roles_required(*ROLES)
def revoke(site_code: str):
    site = site_or_403(site_code)
    ics.revoke_feeds(current_user)
    db.session.commit()
    if is_htmx():
        return _page(site)
    flash(_("The calendar link is stopped."))
    return redirect(url_for("calendar_feed.page", site_code=site.code), 303)
