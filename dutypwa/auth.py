"""Logging in by staff number or phone, logging out, choosing the language, and home."""

import hashlib
from datetime import datetime

from flask import Blueprint, current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from dutypwa.extensions import db, login_manager
from dutypwa.http import is_htmx, render, safe_next
from dutypwa.models import Station, User, utcnow

# The station's cookie (dutypwa.station.COOKIE; that module imports this one).
STATION_COOKIE = "dutypwa_station"

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please log in to continue.")
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"


@login_manager.unauthorized_handler
def unauthorized():
    """htmx requests get 204 + HX-Redirect (a 302 would be followed and swapped in)."""
    target = url_for("auth.login", next=safe_next(request.full_path.rstrip("?")))
    if is_htmx():
        return "", 204, {"HX-Redirect": url_for("auth.login")}
    flash(login_manager.login_message, "info")
    return redirect(target)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or _login_predates_station():
        return None
    return user


def _login_predates_station() -> bool:
    """A login made on this browser before it was enrolled as a station is not a login on
    the station: enrolling logs the supervisor out, but a request they sent a moment
    before (the worker's background refresh) can answer after it and set their session
    cookie again. Only a login made on the tablet afterwards counts."""
    token = request.cookies.get(STATION_COOKIE)
    if not token:
        return False
    digest = hashlib.sha256(token.encode()).hexdigest()
    enrolled_at = db.session.scalar(
        select(Station.enrolled_at).where(
            Station.token_hash == digest, Station.revoked_at.is_(None)
        )
    )
    if enrolled_at is None:
        return False
    login_at = session.get("login_at")
    return login_at is None or datetime.fromisoformat(login_at) < enrolled_at


class LoginForm(FlaskForm):
    username = StringField(_l("Staff number or phone"), validators=[DataRequired(), Length(max=40)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    remember = BooleanField(_l("Stay logged in on this phone"), default=True)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    next_url = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        username = form.username.data.strip()
        user = db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))
        if user and user.active and user.check_password(form.password.data):
            login_user(user, remember=form.remember.data)
            session.permanent = True
            # The phone's storage marker is judged against this (static/offline.js).
            session["login_at"] = utcnow().isoformat()
            return redirect(next_url or url_for("auth.home"))
        form.password.errors.append(_("Wrong staff number or password."))
    status = 422 if form.errors else 200
    return render("auth/login.html", form=form, next_url=next_url, status=status)


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/language")
def language():
    """Switch the UI language; remembered on the user, or in the session before login."""
    locale = request.form.get("locale", "")
    if locale not in current_app.config["LANGUAGES"]:
        return _("Unknown language."), 400
    session["locale"] = locale
    if current_user.is_authenticated:
        current_user.locale = locale
        db.session.commit()
    return redirect(safe_next(request.form.get("next")) or url_for("auth.home"))


@bp.app_template_global()
def nav_site():
    """The site the menus link to: the page's own, else the person's only site (the sync
    page, the saved offline shells), so that a phone has its tab bar on every page."""
    if g.get("site") is not None:
        return g.site
    if "nav_site" not in g:
        sites = db.session.scalars(current_user.visible_sites_query().limit(2)).all()
        g.nav_site = sites[0] if len(sites) == 1 else None
    return g.nav_site


@bp.get("/")
@login_required
def home():
    """Staff land on their patrol, managers on coverage; several sites: pick one."""
    sites = db.session.scalars(current_user.visible_sites_query()).all()
    if len(sites) == 1:
        endpoint = "dashboard.coverage" if current_user.is_manager else "patrol.my_patrol"
        return redirect(url_for(endpoint, site_code=sites[0].code))
    return render("auth/home.html", sites=sites)
