"""Administration of users and sites (admin role).

Usernames (staff number or phone) are unique ignoring case; every user belongs to at least
one site; an admin cannot lock themselves out (deactivate themselves or drop their own admin
role); a site's time zone must be one zoneinfo knows.
"""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, abort, current_app, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from dutypwa.access import roles_required
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.forms import strip, submit_form
from dutypwa.http import is_htmx, render, retarget
from dutypwa.models import Site, User
from dutypwa.places.forms import LEVEL_CHOICES

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_CHOICES = [
    SelectChoice("staff", _l("Duty staff")),
    SelectChoice("supervisor", _l("Supervisor")),
    SelectChoice("director", _l("Director")),
    SelectChoice("admin", _l("Administrator")),
]
# Language names are shown in their own language, as on the switch in the top bar.
LOCALE_CHOICES = [
    SelectChoice("", _l("As the browser asks")),
    SelectChoice("zh_CN", "中文"),
    SelectChoice("en", "English"),
]
TIME_ZONE_SUGGESTIONS = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Macau",
    "Asia/Taipei",
    "Asia/Singapore",
    "UTC",
)
PIN_DIGITS = Regexp(r"^[0-9]{4,8}\Z", message=_l("The PIN must be 4 to 8 digits."))


class UserForm(FlaskForm):
    display_name = StringField(
        _l("Display name"), filters=[strip], validators=[DataRequired(), Length(max=60)]
    )
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="staff")
    level = SelectField(_l("Duty level (roster)"), choices=LEVEL_CHOICES, default="staff")
    site_ids = SelectMultipleField(
        _l("Sites"),
        coerce=int,
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
    )
    locale = SelectField(_l("Language"), choices=LOCALE_CHOICES, default="")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        sites = db.session.scalars(select(Site).order_by(Site.code)).all()
        self.site_ids.choices = [
            SelectChoice(str(site.id), f"{site.name} ({site.code})") for site in sites
        ]

    def validate_site_ids(self, field):
        # Not DataRequired: that would mark every checkbox `required` in the browser.
        if not field.data:
            raise ValidationError(_("Choose at least one site."))


class NewUserForm(UserForm):
    username = StringField(
        _l("Staff number or phone"),
        filters=[strip],
        validators=[
            DataRequired(),
            Length(max=40),
            Regexp(r"^[A-Za-z0-9._+-]+\Z", message=_l("Letters, digits and . _ + - only.")),
        ],
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(),
            Length(min=8, message=_l("At least 8 characters.")),
            Length(max=200),
        ],
    )
    pin = PasswordField(_l("Tablet PIN (optional)"), validators=[Optional(), PIN_DIGITS])


class EditUserForm(UserForm):
    active = BooleanField(_l("Active (may log in)"))


class PasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(),
            Length(min=8, message=_l("At least 8 characters.")),
            Length(max=200),
        ],
    )


class PinForm(FlaskForm):
    pin = PasswordField(_l("New PIN"), validators=[DataRequired(), PIN_DIGITS])


def known_time_zone(form, field):
    try:
        ZoneInfo(field.data)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(_("Unknown time zone. Use a name such as Asia/Shanghai.")) from None


class SiteForm(FlaskForm):
    name = StringField(_l("Name"), filters=[strip], validators=[DataRequired(), Length(max=100)])
    timezone = StringField(
        _l("Time zone"),
        filters=[strip],
        default="Asia/Shanghai",
        validators=[DataRequired(), Length(max=64), known_time_zone],
    )


class NewSiteForm(SiteForm):
    code = StringField(
        _l("Code (used in addresses)"),
        filters=[strip],
        validators=[
            DataRequired(),
            Length(max=20),
            Regexp(r"^[A-Za-z0-9-]+\Z", message=_l("Letters, digits and - only.")),
        ],
    )


def _hash_method() -> str:
    return current_app.config["PASSWORD_HASH_METHOD"]


def _apply_profile(user: User, form: UserForm) -> None:
    user.display_name = form.display_name.data
    user.role = form.role.data
    user.level = form.level.data
    user.sites = db.session.scalars(select(Site).where(Site.id.in_(form.site_ids.data))).all()
    user.locale = form.locale.data or None


def add_user(form: NewUserForm) -> User:
    username = form.username.data
    taken = db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if taken is not None:
        raise DomainError(
            _(
                "The username %(username)s is taken (%(name)s).",
                username=username,
                name=taken.display_name,
            )
        )
    user = User(username=username)
    user.set_password(form.password.data, method=_hash_method())
    if form.pin.data:
        user.set_pin(form.pin.data, method=_hash_method())
    _apply_profile(user, form)
    db.session.add(user)
    db.session.flush()
    return user


def change_user(user: User, form: EditUserForm, *, by: User) -> User:
    """Change a user's profile; an admin may not lock themselves out."""
    if user.id == by.id and not form.active.data:
        raise DomainError(_("You cannot deactivate your own account."))
    if user.id == by.id and form.role.data != "admin":
        raise DomainError(_("You cannot remove your own administrator role."))
    _apply_profile(user, form)
    user.active = form.active.data
    db.session.flush()
    return user


def save_site(form: SiteForm, site: Site | None = None) -> Site:
    if site is None:
        code = form.code.data
        taken = db.session.scalar(select(Site).where(func.lower(Site.code) == code.lower()))
        if taken is not None:
            raise DomainError(
                _("The code %(code)s is used by %(name)s.", code=code, name=taken.name)
            )
        site = Site(code=code)
        db.session.add(site)
    site.name = form.name.data
    site.timezone = form.timezone.data
    db.session.flush()
    return site


def search_users(query: str) -> list[User]:
    statement = select(User).options(selectinload(User.sites)).order_by(User.username)
    if query:
        like = f"%{query}%"
        statement = statement.where(or_(User.username.ilike(like), User.display_name.ilike(like)))
    return db.session.scalars(statement).all()


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, description=_("There is no such user."))
    return user


def _site_or_404(site_id: int) -> Site:
    site = db.session.get(Site, site_id)
    if site is None:
        abort(404, description=_("There is no such site."))
    return site


def _edit_context(user: User, form: EditUserForm | None = None, **extra) -> dict:
    if form is None:
        form = EditUserForm(formdata=None, obj=user, site_ids=[site.id for site in user.sites])
        form.locale.data = user.locale or ""
    return {
        "user": user,
        "form": form,
        "password_form": PasswordForm(formdata=None),
        "pin_form": PinForm(formdata=None),
        **extra,
    }


@bp.get("/users")
@roles_required("admin")
def users():
    query = request.args.get("q", "").strip()[:100]
    return render(
        "admin/users.html",
        "admin/_user_rows.html",
        users=search_users(query),
        q=query,
        form=NewUserForm(formdata=None),
    )


@bp.post("/users")
@roles_required("admin")
def create_user():
    form = NewUserForm()
    user, error = submit_form(form, lambda: add_user(form))
    if user is None:
        response = render(
            "admin/users.html",
            "admin/_new_user.html",
            status=422,
            users=search_users(""),
            q="",
            form=form,
            error=error,
        )
        return retarget(response, "#new-user")
    if is_htmx():
        return render("admin/_user_row.html", status=201, user=user)
    return redirect(url_for("admin.users"), 303)


@bp.get("/users/<int:user_id>")
@roles_required("admin")
def user_row(user_id: int):
    return render("admin/_user_row.html", user=_user_or_404(user_id))


@bp.get("/users/<int:user_id>/edit")
@roles_required("admin")
def edit_user(user_id: int):
    return render("admin/_edit_user.html", **_edit_context(_user_or_404(user_id)))


@bp.post("/users/<int:user_id>")
@roles_required("admin")
def update_user(user_id: int):
    user = _user_or_404(user_id)
    form = EditUserForm()
    saved, error = submit_form(form, lambda: change_user(user, form, by=current_user))
    if saved is None:
        context = _edit_context(user, form, error=error)
        return render("admin/_edit_user.html", status=422, **context)
    return render("admin/_user_row.html", user=user)


@bp.post("/users/<int:user_id>/password")
@roles_required("admin")
def reset_password(user_id: int):
    user = _user_or_404(user_id)
    form = PasswordForm()
    if not form.validate_on_submit():
        return render("admin/_password_form.html", status=422, user=user, password_form=form)
    user.set_password(form.password.data, method=_hash_method())
    db.session.commit()
    notice = _("New password saved for %(name)s.", name=user.display_name)
    return render(
        "admin/_password_form.html",
        user=user,
        password_form=PasswordForm(formdata=None),
        notice=notice,
    )


@bp.post("/users/<int:user_id>/pin")
@roles_required("admin")
def set_pin(user_id: int):
    user = _user_or_404(user_id)
    form = PinForm()
    if not form.validate_on_submit():
        return render("admin/_pin_form.html", status=422, user=user, pin_form=form)
    user.set_pin(form.pin.data, method=_hash_method())
    db.session.commit()
    notice = _("New PIN saved for %(name)s.", name=user.display_name)
    return render("admin/_pin_form.html", user=user, pin_form=PinForm(formdata=None), notice=notice)


@bp.post("/users/<int:user_id>/pin/clear")
@roles_required("admin")
def clear_pin(user_id: int):
    user = _user_or_404(user_id)
    user.pin_hash = None
    db.session.commit()
    notice = _("%(name)s has no PIN now.", name=user.display_name)
    return render("admin/_pin_form.html", user=user, pin_form=PinForm(formdata=None), notice=notice)


@bp.get("/sites")
@roles_required("admin")
def sites():
    return render("admin/sites.html", **_sites_context())


def _sites_context(**overrides) -> dict:
    return {
        "sites": db.session.scalars(select(Site).order_by(Site.code)).all(),
        "form": NewSiteForm(formdata=None),
        "time_zones": TIME_ZONE_SUGGESTIONS,
        **overrides,
    }


@bp.post("/sites")
@roles_required("admin")
def create_site():
    form = NewSiteForm()
    site, error = submit_form(form, lambda: save_site(form))
    if site is None:
        context = _sites_context(form=form, error=error)
        response = render("admin/sites.html", "admin/_new_site.html", status=422, **context)
        return retarget(response, "#new-site")
    if is_htmx():
        return render("admin/_site_row.html", status=201, site=site)
    return redirect(url_for("admin.sites"), 303)


@bp.get("/sites/<int:site_id>")
@roles_required("admin")
def site_row(site_id: int):
    return render("admin/_site_row.html", site=_site_or_404(site_id))


@bp.get("/sites/<int:site_id>/edit")
@roles_required("admin")
def edit_site(site_id: int):
    site = _site_or_404(site_id)
    form = SiteForm(formdata=None, obj=site)
    return render("admin/_edit_site.html", site=site, form=form, time_zones=TIME_ZONE_SUGGESTIONS)


@bp.post("/sites/<int:site_id>")
@roles_required("admin")
def update_site(site_id: int):
    site = _site_or_404(site_id)
    form = SiteForm()
    saved, error = submit_form(form, lambda: save_site(form, site))
    if saved is None:
        return render(
            "admin/_edit_site.html",
            status=422,
            site=site,
            form=form,
            error=error,
            time_zones=TIME_ZONE_SUGGESTIONS,
        )
    return render("admin/_site_row.html", site=site)
