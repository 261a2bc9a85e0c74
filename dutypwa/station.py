"""Station mode: a tablet enrolled as the station of one post, and the handover pages on it.

A supervisor enrols the tablet from its own browser (`/s/<site>/stations`): the server sets
a long-lived HttpOnly cookie holding the station's credential and logs the supervisor out
there. Station pages are known by that cookie only (`station_required`), never by a login.
A person acts on the station by choosing their name and entering their PIN; they stay the
"actor" for a short idle time, renewed by each action, until they leave (a POST: no GET,
least of all the service worker's background refresh of the offline station, changes who
is acting). Signatures and a supervisor's override ask for the PIN again in the same form.
Every fact records the person.
"""

import hashlib
import time
import uuid
from datetime import timedelta
from functools import wraps

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, logout_user
from sqlalchemy import select

from dutypwa.access import roles_required, site_object, site_or_403
from dutypwa.auth import STATION_COOKIE
from dutypwa.dutylog.entries import kind_label
from dutypwa.errors import DomainError, error_response
from dutypwa.extensions import db
from dutypwa.handover import (
    CONDITION_LABELS,
    CONDITIONS,
    arrive,
    check_pin,
    enrol_station,
    important_open,
    open_entries,
    open_handover,
    record_step,
    relief_overdue,
    shift_changes,
    shift_end_after,
    shift_for,
    state_of,
)
from dutypwa.handover_rules import EARLY, STEP_TITLES, TAKER, needed, next_step
from dutypwa.http import is_htmx, render
from dutypwa.models import MANAGERS, MAX_PHOTOS, Handover, Post, PostDuty, Station, User, utcnow
from dutypwa.models.site import site_members
from dutypwa.patrol import parse_device_time
from dutypwa.photos import store_photo
from dutypwa.station_offline import station_reference

bp = Blueprint("station", __name__)

COOKIE = STATION_COOKIE
COOKIE_MAX_AGE = 400 * 24 * 3600
# The chosen person stays the actor this long without an action (the page script leaves
# for the station home after 60 s idle; the server forgets after 90 s).
ACTOR_IDLE_S = 90
LAST_SEEN_EVERY = timedelta(minutes=1)
ANOMALY_ROWS = 10
STEP_ACTIONS = ("inventory", "log_review", "area_check", "summary", "override",
                "sign_incoming", "sign_outgoing")  # fmt: skip
PIN_ACTIONS = ("override", "sign_incoming", "sign_outgoing")


# The station credential


def station_required(view):
    """The page belongs to a station: the cookie names an active one (g.station, g.site,
    g.post); otherwise a 403 page that says why."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        token = request.cookies.get(COOKIE)
        station = _station_by_token(token)
        if station is None:
            message = _("This browser is not a station. A supervisor enrols a tablet as a "
                        "post's station from the page “Stations”.")  # fmt: skip
            abort(403, description=message)
        if not station.active:
            abort(403, description=_("This tablet is no longer a station: a supervisor revoked "
                                     "it. A supervisor can enrol it again."))  # fmt: skip
        g.station, g.site, g.post = station, station.site, station.post
        now = utcnow()
        if station.last_seen_at is None or now - station.last_seen_at > LAST_SEEN_EVERY:
            station.last_seen_at = now
            db.session.commit()
        return view(*args, **kwargs)

    wrapped.station_only = True
    return wrapped


def _station_by_token(token: str | None) -> Station | None:
    """The station of the cookie, revoked ones included (so the page can say so)."""
    if not token:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()
    return db.session.scalar(select(Station).where(Station.token_hash == digest))


def set_station_cookie(response, token: str):
    response.set_cookie(
        COOKIE,
        token,
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
    )
    return response


# The person acting on the station


def members(site) -> list[User]:
    return db.session.scalars(
        select(User)
        .join(site_members, site_members.c.user_id == User.id)
        .where(site_members.c.site_id == site.id, User.active)
        .order_by(User.role != "staff", User.display_name)
    ).all()


def member_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or not user.active or not any(s.id == g.site.id for s in user.sites):
        abort(404, description=_("This person is not a member of this site."))
    return user


def actor() -> User | None:
    """The person who entered their PIN on this station less than ACTOR_IDLE_S ago."""
    data = session.get("station_actor")
    if not data or data.get("station") != g.station.id or data.get("until", 0) < time.time():
        session.pop("station_actor", None)
        return None
    user = db.session.get(User, data.get("id"))
    if user is None or not user.active:
        return None
    _keep_actor(user)
    return user


def _keep_actor(user: User) -> None:
    _not_permanent()
    session["station_actor"] = {
        "id": user.id,
        "station": g.station.id,
        "until": time.time() + ACTOR_IDLE_S,
    }


def forget_actor() -> None:
    _not_permanent()
    session.pop("station_actor", None)


def _not_permanent() -> None:
    """The tablet's session is not a login (an enrolling supervisor's permanent one is
    ended): a permanent session is sent again with every response, so a slow background
    request (the worker's refresh of the offline station) could put back the session as it
    was before a PIN was entered. A session that is not permanent is sent only when changed."""
    session.permanent = False


def actor_or_403() -> User:
    user = actor()
    if user is None:
        raise DomainError(_("Choose your name and enter your PIN first."), 403)
    return user


def verify_pin(user: User, pin: str) -> None:
    """check_pin, with a refusal's failure count committed before the refusal is shown."""
    try:
        check_pin(user, (pin or "").strip(), utcnow())
    except DomainError:
        db.session.commit()
        raise
    db.session.commit()


def go(url: str):
    """A redirect that htmx follows as a page change instead of swapping it in."""
    if is_htmx():
        return "", 204, {"HX-Redirect": url}
    return redirect(url, 303)


# Enrolling and revoking (the supervisor's pages)


@bp.get("/s/<site_code>/stations")
@roles_required(*MANAGERS)
def stations(site_code: str):
    site = site_or_403(site_code)
    return _stations_page(site)


def _stations_page(site, error=None, status=200):
    rows = db.session.scalars(
        select(Station).where(Station.site_id == site.id).order_by(Station.enrolled_at.desc())
    ).all()
    posts = db.session.scalars(select(Post).where(Post.site_id == site.id).order_by(Post.name))
    latest = {}
    for post_id in {station.post_id for station in rows}:
        latest[post_id] = db.session.scalar(
            select(Handover)
            .where(Handover.post_id == post_id, Handover.status != "cancelled")
            .order_by(Handover.arrived_at.desc())
            .limit(1)
        )
    return render(
        "station/stations.html",
        status=status,
        site=site,
        stations=rows,
        posts=posts.all(),
        latest=latest,
        has_record="handover_views.record" in current_app.view_functions,
        error=error,
    )


@bp.post("/s/<site_code>/stations")
@roles_required(*MANAGERS)
def enrol(site_code: str):
    site = site_or_403(site_code)
    try:
        post = site_object(Post, int(request.form.get("post_id", "")), site)
    except ValueError:
        return _stations_page(site, _("Choose the post this tablet serves."), 422)
    supervisor = current_user._get_current_object()
    _station, token = enrol_station(post, by=supervisor, name=request.form.get("name", ""))
    db.session.commit()
    logout_user()
    forget_actor()
    flash(_("This tablet is now the station of %(post)s. You have been logged out on it; "
            "people act here with their PIN.", post=post.name), "ok")  # fmt: skip
    return set_station_cookie(redirect(url_for("station.home"), 303), token)


@bp.post("/s/<site_code>/stations/<int:station_id>/revoke")
@roles_required(*MANAGERS)
def revoke(site_code: str, station_id: int):
    site = site_or_403(site_code)
    station = site_object(Station, station_id, site)
    if station.revoked_at is None:
        station.revoked_at = utcnow()
        db.session.commit()
        flash(_("The station %(name)s is revoked: that tablet can no longer be used.",
                name=station.name), "ok")  # fmt: skip
    return go(url_for("station.stations", site_code=site.code))


# The station home


def shift_clock(post, site, now, duty=None) -> dict:
    """The shift the post is in (its start and end) and when the relief must be here
    (H1): the person on duty's, when they are due later (they may have taken over early
    for the next shift); else the post's shift running now."""
    changes = shift_changes(post, site, now)
    if duty is not None and duty.due_until is not None and duty.due_until > now:
        end = duty.due_until
        before = [moment for moment in shift_changes(post, site, end) if moment < end]
        start = before[-1] if before else duty.since
    else:
        past = [moment for moment in changes if moment <= now]
        start = past[-1] if past else None
        end = shift_end_after(post, site, start) if start else None
    return {"start": start, "end": end, "relief_by": end - EARLY if end else None}


def relief_due(person, now) -> dict:
    """For the check-in page: the start of the shift `person` would be relieving for
    (handover.shift_for, what arrive() measures lateness against) and the on-time limit."""
    start = shift_for(g.post, g.site, person, now, db.session.get(PostDuty, g.post.id))
    return {"end": start, "relief_by": start - EARLY}


@bp.get("/station")
@station_required
def home():
    """What the post looks like now; it acts for nobody (leaving for it forgets the person:
    `leave`)."""
    post, site, now = g.post, g.site, utcnow()
    duty = db.session.get(PostDuty, post.id)
    handover = open_handover(post)
    state = state_of(handover) if handover else None
    return render(
        "station/home.html",
        site=site,
        post=post,
        now=now,
        clock=shift_clock(post, site, now, duty),
        duty=duty,
        overdue=relief_overdue(duty, now),
        entries=open_entries(post),
        kind_label=kind_label,
        important={entry.id for entry in important_open(post)},
        handover=handover,
        state=state,
        steps=_progress(handover, state) if handover else [],
    )


def _progress(handover, state) -> list[dict]:
    upcoming = next_step(state)
    return [
        {"action": action, "title": STEP_TITLES[action](), "done": action in state.done,
         "current": action == upcoming}
        for action in needed(state)
    ]  # fmt: skip


@bp.get("/station/app")
@station_required
def shell():
    """The offline station (templates/station/app.html): the tablet keeps it and runs the
    handover from it when the network is gone. The service worker fetches it in the
    background after every station page: it reads nothing of the person acting and
    changes nothing (it once forgot them, and every check-in was refused)."""
    return render(
        "station/app.html",
        site=g.site,
        post=g.post,
        station=g.station,
        conditions=[(key, CONDITION_LABELS[key]) for key in CONDITIONS],
        texts=shell_texts(),
    )


def shell_texts() -> dict:
    """The offline station's sentences, translated, with {name} placeholders."""
    return {
        "steps": {action: title() for action, title in STEP_TITLES.items()},
        "roles": {
            "supervisor": _("Supervisor"),
            "director": _("Director"),
            "admin": _("Administrator"),
        },
        "relief_title": _("The relief: choose your name"),
        "people_title": _("Choose your name"),
        "pin_of": _("PIN of %(name)s", name="{name}"),
        "wrong_pin": _("Wrong PIN. %(n)s tries left.", n="{n}"),
        "locked": _(
            "Too many wrong PINs. %(name)s can try again in %(n)s minutes.", name="{name}", n="{n}"
        ),
        "no_pin": _(
            "%(name)s cannot use a PIN on this tablet without the network yet: use it "
            "once here while the network is on.",
            name="{name}",
        ),
        "nobody": _("nobody"),
        "nobody_on_duty": _(
            "Nobody has taken over this post on the tablet yet: the first "
            "person checks in as the relief."
        ),
        "since": _("since %(time)s", time="{time}"),
        "until": _("until %(time)s", time="{time}"),
        "overdue": _("Relief overdue — %(name)s still on duty", name="{name}"),
        "overdue_detail": _(
            "The shift ended at %(time)s. %(name)s stays at the post until the relief has signed.",
            time="{time}",
            name="{name}",
        ),
        "next_handover": _(
            "Next handover at %(time)s; the relief checks in by %(by)s.", time="{time}", by="{by}"
        ),
        "in_progress": _(
            "%(incoming)s takes over from %(outgoing)s; checked in at %(time)s.",
            incoming="{incoming}",
            outgoing="{outgoing}",
            time="{time}",
        ),
        "late": _("late by %(n)s min", n="{n}"),
        "now": _("Now: %(name)s", name="{name}"),
        "check_in_as": _(
            "%(name)s checks in as the relief of %(outgoing)s.",
            name="{name}",
            outgoing="{outgoing}",
        ),
        "expected": _("expected %(n)s", n="{n}"),
        "all_there": _("All %(n)s there", n="{n}"),
        "explain": _(
            "%(item)s: the count or condition is off — the outgoing person explains it.",
            item="{item}",
        ),
        "important": _("Important — blocks the handover until done"),
        "no_items": _("No open items."),
        "sign_incoming": _(
            "%(name)s, you have counted, read the log and checked the area. Sign "
            "to take over the post.",
            name="{name}",
        ),
        "sign_outgoing": _(
            "%(name)s, sign to hand over the post. You may leave only after both have signed.",
            name="{name}",
        ),
        "carried_to_you": _("Carried over to you: %(items)s", items="{items}"),
        "carried": _("Carried over: %(items)s", items="{items}"),
        "no_supervisor": _("This site has no supervisor."),
        "done": _("Handover complete — %(name)s is on duty", name="{name}"),
        "waiting": _(
            "%(n)s handover steps wait on this tablet and are sent when the network is back.",
            n="{n}",
        ),
        "sent": _("Everything recorded on this tablet has reached the server."),
        "no_reference": _(
            "This tablet has not saved its station yet. Connect it to the network "
            "once and open the station home."
        ),
        "not_here": _("This person is not a member of this site."),
        "open_elsewhere": _("A handover is already open at this post; finish it first."),
        "anomaly_explain": _("The outgoing person explains each anomaly."),
    }


@bp.get("/station/reference.json")
@station_required
def reference():
    """What the tablet keeps to run a handover offline (station_offline.py)."""
    response = jsonify(station_reference(g.station, utcnow()))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/station/leave")
@station_required
def leave():
    """Back to the station home with nobody acting: "Not you?", "Cancel", and the page
    script after 60 s without a touch."""
    forget_actor()
    return go(url_for("station.home"))


# Choosing the person and the PIN


def _then_url(then: str) -> str:
    if then == "arrive":
        return url_for("station.start")
    handover = open_handover(g.post)
    if handover is not None:
        return url_for("station.handover", handover_id=handover.id)
    return url_for("station.home")


@bp.get("/station/people")
@station_required
def people():
    then = request.args.get("then", "handover")
    people = members(g.site)
    duty = db.session.get(PostDuty, g.post.id)
    if then == "arrive" and duty is not None:
        # The person on duty does not relieve themself.
        people = [person for person in people if person.id != duty.person_id]
    return render("station/people.html", site=g.site, post=g.post, then=then, people=people)


@bp.get("/station/people/<int:user_id>/pin")
@station_required
def pin(user_id: int):
    person = member_or_404(user_id)
    then = request.args.get("then", "handover")
    return render("station/pin.html", "station/_pin_form.html", site=g.site, post=g.post,
                  person=person, then=then, error=None)  # fmt: skip


@bp.post("/station/people/<int:user_id>/pin")
@station_required
def verify(user_id: int):
    person = member_or_404(user_id)
    then = request.form.get("then", "handover")
    try:
        verify_pin(person, request.form.get("pin", ""))
    except DomainError as refused:
        forget_actor()
        return render("station/pin.html", "station/_pin_form.html", status=refused.status,
                      site=g.site, post=g.post, person=person, then=then,
                      error=refused.message)  # fmt: skip
    _keep_actor(person)
    return go(_then_url(then))


# The handover


@bp.get("/station/start")
@station_required
def start():
    """The relief checks in at the post (H1): confirms who and when."""
    person = actor()
    if person is None:
        return redirect(url_for("station.people", then="arrive"))
    existing = open_handover(g.post)
    if existing is not None:
        return redirect(url_for("station.handover", handover_id=existing.id))
    return _start_page(person)


def _start_page(person, error=None, status=200):
    now = utcnow()
    return render(
        "station/start.html",
        "station/_start_form.html",
        status=status,
        site=g.site,
        post=g.post,
        person=person,
        duty=db.session.get(PostDuty, g.post.id),
        clock=relief_due(person, now),
        now=now,
        op_id=request.form.get("op_id") or str(uuid.uuid4()),
        error=error,
    )


@bp.post("/station/handovers")
@station_required
def check_in():
    try:
        person = actor_or_403()
    except DomainError as refused:
        return _refused_page(refused)
    try:
        handover, _created = arrive(
            g.post,
            by=person,
            op_id=_op_id(request.form),
            device_time=parse_device_time(request.form.get("device_time")),
            station=g.station,
        )
    except DomainError as refused:
        db.session.rollback()
        return _start_page(person, refused.message, refused.status)
    db.session.commit()
    return go(url_for("station.handover", handover_id=handover.id))


def _handover_or_404(handover_id: str) -> Handover:
    handover = db.session.get(Handover, handover_id)
    if handover is None or handover.post_id != g.post.id:
        abort(404, description=_("There is no such handover at this post."))
    return handover


def _person_for(handover: Handover, action: str) -> User | None:
    taker = TAKER.get(action)
    if taker == "incoming":
        return handover.incoming
    if taker == "outgoing":
        return handover.outgoing
    return None


@bp.get("/station/handovers/<handover_id>")
@station_required
def handover(handover_id: str):
    """The handover's next step, for the person who takes it; the wrong person is asked
    to hand the tablet over (the right person's PIN pad)."""
    handover = _handover_or_404(handover_id)
    if handover.status == "signed":
        return redirect(url_for("station.done", handover_id=handover.id))
    if handover.status != "open":
        return redirect(url_for("station.home"))
    state = state_of(handover)
    action = next_step(state)
    if request.args.get("step") == "sign_outgoing" and handover.outgoing_id:
        action = "sign_outgoing"  # the outgoing person may try; the server answers (H8)
    if action is None:
        return redirect(url_for("station.home"))
    if action in PIN_ACTIONS:
        person = _person_for(handover, action)
    else:
        person = actor()
        right = _person_for(handover, action)
        if person is None or (right is not None and person.id != right.id):
            return redirect(url_for("station.pin", user_id=right.id, then="handover"))
    return _step_page(handover, state, action, person)


def _step_page(handover, state, action, person, error=None, status=200, form=None):
    blocked = state.blocked and not state.overridden
    if action == "sign_incoming" and blocked:
        action = "override"
    context = {
        "site": g.site,
        "post": g.post,
        "handover": handover,
        "state": state,
        "steps": _progress(handover, state),
        "action": action,
        "title": STEP_TITLES[action](),
        "person": person,
        "error": error,
        "form": form if form is not None else {},
        "op_id": (form or {}).get("op_id") or str(uuid.uuid4()),
        "blocked": blocked,
        "important": important_open(handover.post),
        "conditions": [(key, CONDITION_LABELS[key]) for key in CONDITIONS],
        "anomaly_rows": ANOMALY_ROWS,
        "kind_label": kind_label,
    }
    context["cancel_op_id"] = str(uuid.uuid4())
    context["cancellers"] = [
        person for person in (handover.incoming, handover.outgoing) if person is not None
    ] + [user for user in members(g.site) if user.role in MANAGERS]
    if action == "inventory":
        context["items"] = list(enumerate(handover.post.inventory or []))
    elif action == "log_review":
        context["entries"] = open_entries(handover.post)
        context["important_ids"] = {entry.id for entry in context["important"]}
    elif action == "override":
        context["supervisors"] = [user for user in members(g.site) if user.role in MANAGERS]
    return render("station/handover.html", "station/_step.html", status=status, **context)


@bp.post("/station/handovers/<handover_id>/steps")
@station_required
def step(handover_id: str):
    handover = _handover_or_404(handover_id)
    form = request.form
    action = form.get("action", "")
    if action not in STEP_ACTIONS:
        abort(400, description=_("That is not a step of a handover."))
    try:
        if action in PIN_ACTIONS:
            if action == "override":
                person = member_or_404(_int(form.get("supervisor_id")))
            else:
                person = _person_for(handover, action)
                if person is None:
                    raise DomainError(_("This handover has no outgoing person."), 422)
            verify_pin(person, form.get("pin", ""))
            _keep_actor(person)
        else:
            person = actor_or_403()
        if action == "area_check" and form.get("nothing") and _anomalies_written(form):
            raise DomainError(_("You wrote anomalies: save the area check with them, or "
                                "clear the rows for “nothing abnormal”."))  # fmt: skip
        op_id = _op_id(form)
        record_step(
            handover,
            by=person,
            op_id=op_id,
            action=action,
            fields=form.to_dict(),
            device_time=parse_device_time(form.get("device_time")),
            device_id=None,
            photo_ids=_evidence(op_id, person) if action == "summary" else (),
        )
    except DomainError as refused:
        db.session.rollback()
        db.session.refresh(handover)
        return _step_page(handover, state_of(handover), action, _shown_person(handover, action),
                          refused.message, refused.status, form.to_dict())  # fmt: skip
    db.session.commit()
    if handover.status == "signed":
        forget_actor()
        return go(url_for("station.done", handover_id=handover.id))
    return go(url_for("station.handover", handover_id=handover.id))


@bp.post("/station/handovers/<handover_id>/cancel")
@station_required
def cancel(handover_id: str):
    """The incoming or outgoing person or a supervisor cancels a handover begun by
    mistake, with a reason and their PIN, before the relief has signed; it stays on
    record as cancelled."""
    handover = _handover_or_404(handover_id)
    form = request.form
    try:
        person = member_or_404(_int(form.get("person_id")))
        verify_pin(person, form.get("pin", ""))
        record_step(
            handover,
            by=person,
            op_id=_op_id(form),
            action="cancel",
            fields=form.to_dict(),
            device_time=parse_device_time(form.get("device_time")),
        )
    except DomainError as refused:
        db.session.rollback()  # verify_pin() has already kept a wrong PIN's count
        return _refused_page(refused)
    db.session.commit()
    forget_actor()
    return go(url_for("station.home"))


def _evidence(op_id: str, person: User) -> list[str]:
    """H7: the outgoing person's evidence photos, checked and stored like a finding's;
    their ids come from the step's, so a resent form stores each once."""
    files = [upload for upload in request.files.getlist("photos") if upload and upload.filename]
    if len(files) > MAX_PHOTOS:
        raise DomainError(_("At most %(n)d photos.", n=MAX_PHOTOS))
    photo_ids = []
    for index, upload in enumerate(files):
        photo_id = str(uuid.uuid5(uuid.UUID(op_id), f"photo/{index}"))
        store_photo(photo_id, upload.read(), site=g.site, by=person, sha256=None)
        photo_ids.append(photo_id)
    return photo_ids


def _anomalies_written(form) -> bool:
    return any(form.get(f"anomaly-{index}", "").strip() for index in range(ANOMALY_ROWS))


def _shown_person(handover, action):
    if action in PIN_ACTIONS:
        return _person_for(handover, action)
    return actor()


@bp.get("/station/handovers/<handover_id>/done")
@station_required
def done(handover_id: str):
    handover = _handover_or_404(handover_id)
    if handover.status != "signed":
        return redirect(url_for("station.handover", handover_id=handover.id))
    has_record = "handover_views.record" in current_app.view_functions
    return render("station/done.html", site=g.site, post=g.post, handover=handover,
                  has_record=has_record)  # fmt: skip


def _refused_page(refused: DomainError):
    return error_response(refused.status, refused.message)


def _op_id(form) -> str:
    try:
        return str(uuid.UUID(form.get("op_id", "")))
    except ValueError:
        raise DomainError(_("The form is missing its id. Reload and try again.")) from None


def _int(raw) -> int:
    try:
        return int(raw or "")
    except ValueError:
        raise DomainError(_("Choose your name first."), 422) from None
