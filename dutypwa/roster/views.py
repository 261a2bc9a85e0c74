"""The roster pages: the supervisor's month grid (a cell edit re-renders the cell and, out of
band, the post's coverage row, the problems and the version), the workflow buttons, the
printable month, a staff member's own shifts and the day view of who is at each post.
"""

from datetime import date, timedelta

from flask import Blueprint, abort, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import select

from dutypwa.access import roles_required, site_object, site_or_403
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.http import render
from dutypwa.models import MANAGERS, Post, RosterEntry, RosterMonth, User, utcnow
from dutypwa.qr import qr_svg
from dutypwa.roster import core
from dutypwa.roster.holidays import badge
from dutypwa.roster.times import format_segments

bp = Blueprint("roster", __name__)

AGENDA_DAYS = 45
STATUS_LABELS = {
    "draft": lambda: _("Draft"),
    "submitted": lambda: _("Submitted"),
    "company_review": lambda: _("Company review"),
    "approved": lambda: _("Approved"),
    "published": lambda: _("Published"),
}


def _month_or_404(site, text: str, *, create: bool = False) -> RosterMonth | None:
    try:
        first = core.parse_month(text)
    except DomainError as error:
        abort(404, description=error.message)
    return core.month_of(site, first, create=create)


def _today(site) -> date:
    return utcnow().astimezone(site.tz).date()


@bp.get("/s/<site_code>/roster")
@login_required
def index(site_code: str):
    site = site_or_403(site_code)
    if current_user.role not in MANAGERS:
        return redirect(url_for("roster.mine", site_code=site.code))
    # The month the site is in now (its own time zone): the one people are working to;
    # next month, still being planned, is one link away.
    current = _today(site).replace(day=1)
    return redirect(url_for("roster.month", site_code=site.code, month=current.strftime("%Y-%m")))


def _month_page(site, first, month, *, status=200, error=None):
    manager = current_user.role in MANAGERS
    grid = core.grid(month) if month else None
    members = site_members_of(site) if manager else []
    response = render(
        "roster/month.html",
        status=status,
        site=site,
        first=first,
        month=month,
        grid=grid,
        manager=manager,
        editable=manager and month is not None and month.status in core.EDITABLE,
        members=members,
        statuses={key: label() for key, label in STATUS_LABELS.items()},
        badge=badge,
        previous=(first - timedelta(days=1)).replace(day=1),
        following=core.next_month(first),
        error=error,
        hard=[p for p, _s in grid.problems if p.severity == "hard"] if grid else [],
    )
    if month is not None:
        # The service worker keeps a saved copy until the version changes (sync.reference).
        response.headers["X-Dutypwa-Roster-Version"] = str(month.version)
    return response


def site_members_of(site) -> list[User]:
    return db.session.scalars(
        select(User).where(User.active, User.sites.any(id=site.id)).order_by(User.display_name)
    ).all()


@bp.get("/s/<site_code>/roster/<month>")
@login_required
def month(site_code: str, month: str):
    site = site_or_403(site_code)
    record = _month_or_404(site, month)
    first = core.parse_month(month)
    if current_user.role not in MANAGERS and (record is None or not record.published):
        abort(404, description=_("The roster of this month is not published yet."))
    return _month_page(site, first, record)


@bp.post("/s/<site_code>/roster/<month>")
@roles_required(*MANAGERS)
def start(site_code: str, month: str):
    site = site_or_403(site_code)
    _month_or_404(site, month, create=True)
    db.session.commit()
    return redirect(url_for("roster.month", site_code=site.code, month=month), 303)


def _cell_response(grid_month, site, post, person, day, *, status=200, error=None, context=None):
    context = context or core.context_of(site, core.first_day(grid_month))
    grid = core.grid(grid_month, cells=False, context=context)
    entry = core.cell_entry(grid_month, post, person, day)
    return render(
        "roster/_cell_update.html",
        status=status,
        site=site,
        month=grid_month,
        grid=grid,
        post=post,
        person=person,
        day=day,
        entry=entry,
        row_hours=core.row_hours(context, post, person),
        error=error,
        editable=grid_month.status in core.EDITABLE,
        badge=badge,
    )


@bp.post("/s/<site_code>/roster/<month>/cell")
@roles_required(*MANAGERS)
def cell(site_code: str, month: str):
    """One cell typed or painted: the new cell, and out of band the post's coverage row,
    the problems and the version; a refusal leaves the cell as it was and says why."""
    site = site_or_403(site_code)
    record = _month_or_404(site, month) or abort(404)
    form = request.form
    post = site_object(Post, _int(form.get("post")), site)
    person = db.session.get(User, _int(form.get("person"))) or abort(404)
    try:
        day = date.fromisoformat(form.get("day", ""))
        version = int(form.get("version", ""))
    except ValueError:
        abort(400, description=_("The cell's day or the roster's version is missing."))
    context = core.context_of(site, core.first_day(record))
    try:
        core.set_cell(
            record,
            by=current_user,
            post=post,
            person=person,
            day=day,
            code=form.get("code", ""),
            version=version,
            reason=form.get("reason", ""),
            context=context,
        )
    except DomainError as refused:
        db.session.rollback()
        return _cell_response(record, site, post, person, day, status=refused.status,
                              error=refused.message, context=context)  # fmt: skip
    db.session.commit()
    return _cell_response(record, site, post, person, day, context=context)


@bp.post("/s/<site_code>/roster/<month>/rows")
@roles_required(*MANAGERS)
def add_row(site_code: str, month: str):
    site = site_or_403(site_code)
    record = _month_or_404(site, month, create=True)
    post = site_object(Post, _int(request.form.get("post")), site)
    person = db.session.get(User, _int(request.form.get("person")))
    if person is None or not any(s.id == site.id for s in person.sites):
        return _month_page(site, core.first_day(record), record, status=422,
                           error=_("Choose a member of this site."))  # fmt: skip
    try:
        core.add_row(record, post=post, person=person, by=current_user)
    except DomainError as refused:
        db.session.rollback()
        return _month_page(site, core.first_day(record), record, status=refused.status,
                           error=refused.message)  # fmt: skip
    db.session.commit()
    return redirect(
        url_for("roster.month", site_code=site.code, month=month) + f"#post-{post.id}", 303
    )


@bp.post("/s/<site_code>/roster/<month>/fill")
@roles_required(*MANAGERS)
def fill(site_code: str, month: str):
    """Fill a row from a rotation pattern (codes separated by spaces, "-" for a day off),
    repeated from the chosen day to the end of the month."""
    site = site_or_403(site_code)
    record = _month_or_404(site, month) or abort(404)
    post = site_object(Post, _int(request.form.get("post")), site)
    person = db.session.get(User, _int(request.form.get("person"))) or abort(404)
    pattern = request.form.get("pattern", "").split()
    try:
        start_day = date.fromisoformat(request.form.get("from", ""))
    except ValueError:
        start_day = core.first_day(record)
    refusals = []
    if not pattern:
        refusals.append(_("Write the pattern, e.g. “D D N N - -”."))
    days = [day for day in core.month_days(core.first_day(record)) if day >= start_day]
    context = core.context_of(site, core.first_day(record))
    for index, day in enumerate(days if pattern else []):
        code = pattern[index % len(pattern)]
        try:
            core.set_cell(record, by=current_user, post=post, person=person, day=day,
                          code="" if code == "-" else code, version=record.version,
                          source="pattern", reason=request.form.get("reason", ""),
                          context=context)  # fmt: skip
        except DomainError as refused:
            refusals.append(f"{day.isoformat()}: {refused.message}")
    db.session.commit()
    if refusals:
        return _month_page(site, core.first_day(record), record, status=422,
                           error=" ".join(refusals[:5]))  # fmt: skip
    return redirect(url_for("roster.month", site_code=site.code, month=month), 303)


@bp.post("/s/<site_code>/roster/<month>/copy")
@roles_required(*MANAGERS)
def copy_previous(site_code: str, month: str):
    """Copy last month aligned by weekday: each day takes the shifts of the day four (or
    five) weeks earlier, so a Monday's duty stays a Monday's."""
    site = site_or_403(site_code)
    record = _month_or_404(site, month, create=True)
    first = core.first_day(record)
    previous_first = (first - timedelta(days=1)).replace(day=1)
    previous = core.month_of(site, previous_first)
    if previous is None:
        return _month_page(site, first, record, status=422,
                           error=_("Last month has no roster to copy."))  # fmt: skip
    shift = timedelta(days=35 if (first - previous_first).days > 31 else 28)
    source = {
        (entry.post_id, entry.user_id, entry.duty_date): entry
        for entry in db.session.scalars(
            select(RosterEntry).where(
                RosterEntry.month_id == previous.id, RosterEntry.status == "planned"
            )
        )
    }
    refusals = []
    for row in previous.rows:
        core.add_row(record, post=row.post, person=row.user, by=current_user)
    context = core.context_of(site, first)
    for day in core.month_days(first):
        for (_post, _person, source_day), entry in source.items():
            if source_day + shift != day:
                continue
            try:
                core.set_cell(record, by=current_user, post=entry.post, person=entry.user,
                              day=day, code=entry.template.code, version=record.version,
                              source="copy", context=context)  # fmt: skip
            except DomainError as refused:
                refusals.append(f"{day.isoformat()} {entry.user.display_name}: {refused.message}")
    db.session.commit()
    if refusals:
        return _month_page(site, first, record, status=422, error=" ".join(refusals[:5]))
    return redirect(url_for("roster.month", site_code=site.code, month=month), 303)


def _workflow(site_code: str, month: str, step):
    site = site_or_403(site_code)
    record = _month_or_404(site, month) or abort(404)
    try:
        step(record)
    except DomainError as refused:
        db.session.rollback()
        return _month_page(site, core.first_day(record), record, status=refused.status,
                           error=refused.message)  # fmt: skip
    db.session.commit()
    return redirect(url_for("roster.month", site_code=site.code, month=month), 303)


@bp.post("/s/<site_code>/roster/<month>/submit")
@roles_required(*MANAGERS)
def submit(site_code: str, month: str):
    return _workflow(site_code, month, lambda m: core.submit(m, by=current_user))


@bp.post("/s/<site_code>/roster/<month>/approve")
@roles_required(*core.REVIEWERS)
def approve(site_code: str, month: str):
    comment = request.form.get("comment", "")
    return _workflow(site_code, month, lambda m: core.approve(m, by=current_user, comment=comment))


@bp.post("/s/<site_code>/roster/<month>/return")
@roles_required(*core.REVIEWERS)
def send_back(site_code: str, month: str):
    comment = request.form.get("comment", "")
    return _workflow(
        site_code, month, lambda m: core.return_to_draft(m, by=current_user, comment=comment)
    )


@bp.post("/s/<site_code>/roster/<month>/publish")
@roles_required(*MANAGERS)
def publish(site_code: str, month: str):
    return _workflow(site_code, month, lambda m: core.publish(m, by=current_user))


@bp.get("/s/<site_code>/roster/<month>/print")
@login_required
def print_month(site_code: str, month: str):
    """One A4 landscape page: 编制 / 审核 / 批准 boxes, the code legend, the version and a
    QR code of the live roster; 草稿 across it until it is published."""
    site = site_or_403(site_code)
    record = _month_or_404(site, month) or abort(404)
    if current_user.role not in MANAGERS and not record.published:
        abort(404, description=_("The roster of this month is not published yet."))
    live = url_for("roster.month", site_code=site.code, month=month, _external=True)
    return render(
        "roster/print.html",
        site=site,
        month=record,
        grid=core.grid(record),
        badge=badge,
        live=f"{live}?v={record.version}",
        qr=lambda data: Markup(qr_svg(data)),
        shift_times=lambda template: format_segments(template.minutes),
        statuses={key: label() for key, label in STATUS_LABELS.items()},
        now=utcnow(),
    )


@bp.get("/s/<site_code>/roster/mine")
@login_required
def mine(site_code: str):
    """My roster: the published shifts of the coming weeks, with holiday badges."""
    site = site_or_403(site_code)
    today = _today(site)
    entries = db.session.scalars(
        select(RosterEntry)
        .join(RosterMonth, RosterMonth.id == RosterEntry.month_id)
        .where(
            RosterEntry.user_id == current_user.id,
            RosterEntry.site_id == site.id,
            RosterEntry.status == "planned",
            RosterMonth.status == "published",
            RosterEntry.duty_date >= today - timedelta(days=1),
            RosterEntry.duty_date <= today + timedelta(days=AGENDA_DAYS),
        )
        .order_by(RosterEntry.start_at)
    ).all()
    kinds = core.kinds_between(today, today + timedelta(days=AGENDA_DAYS))
    return render("roster/mine.html", site=site, entries=entries, kinds=kinds, badge=badge,
                  today=today)  # fmt: skip


@bp.get("/s/<site_code>/roster/day/<day>")
@roles_required(*MANAGERS)
def day(site_code: str, day: str):
    """Who is at each post on a day (planned shifts of drafts too, marked)."""
    site = site_or_403(site_code)
    try:
        when = date.fromisoformat(day)
    except ValueError:
        abort(404)
    entries = db.session.scalars(
        select(RosterEntry)
        .where(
            RosterEntry.site_id == site.id,
            RosterEntry.status == "planned",
            RosterEntry.duty_date == when,
        )
        .order_by(RosterEntry.start_at)
    ).all()
    posts = db.session.scalars(select(Post).where(Post.site_id == site.id).order_by(Post.name))
    by_post = {post: [e for e in entries if e.post_id == post.id] for post in posts}
    first = when.replace(day=1)
    record = core.month_of(site, first)
    gaps = {}
    if record is not None:
        for problem, sentence in core.grid(record).problems:
            local = problem.start.astimezone(site.tz).date()
            if (
                problem.code == "coverage_gap"
                and local <= when <= problem.end.astimezone(site.tz).date()
            ):
                gaps.setdefault(problem.post, []).append(sentence)
    return render("roster/day.html", site=site, day=when, by_post=by_post, gaps=gaps,
                  kind=core.kinds_between(when, when).get(when), badge=badge,
                  month=record, previous=when - timedelta(days=1),
                  following=when + timedelta(days=1))  # fmt: skip


def _int(raw) -> int:
    try:
        return int(raw or "")
    except ValueError:
        abort(400, description=_("A number is missing from the form."))
