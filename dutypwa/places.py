"""Areas, posts and patrol routes of a site (supervisor pages).

Names are unique per site; a post's inventory and shift-change times are typed as plain
text and checked line by line; any change to a route or its stops bumps route.updated_at,
which the coverage page's ETag depends on.
"""

import re
from datetime import time

from flask import Blueprint, abort, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from wtforms import (
    BooleanField,
    IntegerField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from dutypwa.access import roles_required, site_object, site_or_403
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.forms import strip, submit_form
from dutypwa.http import is_htmx, render, retarget
from dutypwa.models import MANAGERS, Area, Checkpoint, Post, Route, RouteStop, Site, utcnow
from dutypwa.models.checkpoint import listing_order

bp = Blueprint("places", __name__)

WEEKDAY_CHOICES = [
    SelectChoice("1", _l("Mon")),
    SelectChoice("2", _l("Tue")),
    SelectChoice("3", _l("Wed")),
    SelectChoice("4", _l("Thu")),
    SelectChoice("5", _l("Fri")),
    SelectChoice("6", _l("Sat")),
    SelectChoice("7", _l("Sun")),
]
MAX_INVENTORY_ITEMS = 100
MAX_TEXT = 4000
# `对讲机 2`, `对讲机,2`, `对讲机，2`, `对讲机×2`, `对讲机*2`; a bare name counts 1.
INVENTORY_LINE = re.compile(r"^(?P<name>.*?)(?:\s*[,，×*]\s*|\s+)(?P<count>[-+]?\d+)$")
SHIFT_TIME = re.compile(r"^(?P<hour>\d{1,2})[:：](?P<minute>\d{2})$")


def parse_inventory(text: str) -> list[dict]:
    """Inventory items from text, one per line; ValueError naming every bad line."""
    items, errors, seen = [], [], set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = INVENTORY_LINE.match(line)
        name, count = (match["name"].strip(), int(match["count"])) if match else (line, 1)
        if not name:
            problem = _("the item needs a name.")
        elif not 1 <= count <= 999:
            problem = _("the count must be between 1 and 999.")
        elif len(name) > 100:
            problem = _("the name is longer than 100 characters.")
        elif name in seen:
            problem = _("%(name)s is listed twice.", name=name)
        else:
            seen.add(name)
            items.append({"name": name, "count": count})
            continue
        errors.append(
            _("Line %(line)d (%(text)s): %(problem)s", line=number, text=line, problem=problem)
        )
    if len(items) > MAX_INVENTORY_ITEMS:
        errors.append(_("At most %(n)d items.", n=MAX_INVENTORY_ITEMS))
    if errors:
        raise ValueError("\n".join(errors))
    return items


def parse_shift_times(text: str) -> list[str]:
    """Times typed as "08:00 20:00" or "8:00, 20:00": sorted, without repeats, as "HH:MM"."""
    times, errors = set(), []
    for token in re.split(r"[\s,，;；、]+", text.strip()):
        if not token:
            continue
        match = SHIFT_TIME.match(token)
        if match and int(match["hour"]) < 24 and int(match["minute"]) < 60:
            times.add(f"{int(match['hour']):02d}:{int(match['minute']):02d}")
        else:
            errors.append(_("%(text)s is not a time of day like 08:00.", text=token))
    if errors:
        raise ValueError("\n".join(errors))
    return sorted(times)


def _not_too_long(text: str) -> str:
    if len(text) > MAX_TEXT:
        raise ValueError(_("At most %(n)d characters.", n=MAX_TEXT))
    return text


class InventoryField(TextAreaField):
    """A list of {"name", "count"} edited as text; shows what was typed after an error."""

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "\n".join(f"{item['name']} {item['count']}" for item in self.data or [])

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = parse_inventory(_not_too_long(valuelist[0]))


class ShiftTimesField(StringField):
    """A list of "HH:MM" strings edited as one line of text."""

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return " ".join(self.data or [])

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = parse_shift_times(_not_too_long(valuelist[0]))


class AreaForm(FlaskForm):
    name = StringField(_l("Name"), filters=[strip], validators=[DataRequired(), Length(max=100)])
    position = IntegerField(
        _l("Position in lists"), validators=[Optional(), NumberRange(min=0, max=9999)]
    )


class PostForm(FlaskForm):
    name = StringField(_l("Name"), filters=[strip], validators=[DataRequired(), Length(max=100)])
    inventory = InventoryField(_l("Items handed over, one per line (e.g. 对讲机 2)"))
    shift_changes = ShiftTimesField(_l("Shift changes (e.g. 08:00 20:00)"))


class RouteForm(FlaskForm):
    name = StringField(_l("Name"), filters=[strip], validators=[DataRequired(), Length(max=100)])
    weekdays = SelectMultipleField(
        _l("Days"),
        choices=WEEKDAY_CHOICES,
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
    )
    window_start = TimeField(_l("From"), format=["%H:%M", "%H:%M:%S"])
    window_end = TimeField(_l("To"), format=["%H:%M", "%H:%M:%S"])
    interval_minutes = IntegerField(
        _l("Every (minutes)"),
        validators=[
            InputRequired(),
            NumberRange(min=5, max=1440, message=_l("Between 5 and 1440 minutes.")),
        ],
    )
    active = BooleanField(_l("Active"), default=True)

    def validate_weekdays(self, field):
        # Not DataRequired: that would mark every checkbox `required` in the browser.
        if not field.data:
            raise ValidationError(_("Choose at least one day."))


class StopForm(FlaskForm):
    checkpoint_id = IntegerField(validators=[InputRequired(message=_l("Choose a checkpoint."))])


def _refuse_taken_name(model, site: Site, name: str, current, message: str) -> None:
    clash = db.session.scalar(
        select(model).where(model.site_id == site.id, func.lower(model.name) == name.lower())
    )
    if clash is not None and clash is not current:
        raise DomainError(message)


def save_area(site: Site, form: AreaForm, area: Area | None = None) -> Area:
    name = form.name.data
    _refuse_taken_name(
        Area, site, name, area, _("There is already an area called %(name)s.", name=name)
    )
    if area is None:
        area = Area(site=site, position=next_area_position(site))
        db.session.add(area)
    area.name = name
    if form.position.data is not None:
        area.position = form.position.data
    db.session.flush()
    return area


def next_area_position(site: Site) -> int:
    highest = db.session.scalar(select(func.max(Area.position)).where(Area.site_id == site.id))
    return 0 if highest is None else highest + 1


def save_post(site: Site, form: PostForm, post: Post | None = None) -> Post:
    name = form.name.data
    _refuse_taken_name(
        Post, site, name, post, _("There is already a post called %(name)s.", name=name)
    )
    if post is None:
        post = Post(site=site)
        db.session.add(post)
    post.name = name
    post.inventory = form.inventory.data or []
    post.shift_changes = form.shift_changes.data or []
    db.session.flush()
    return post


def save_route(site: Site, form: RouteForm, route: Route | None = None) -> Route:
    if route is None:
        route = Route(site=site, stops=[])
        db.session.add(route)
    route.name = form.name.data
    route.weekdays = "".join(sorted(set(form.weekdays.data)))
    route.window_start = form.window_start.data.replace(second=0)
    route.window_end = form.window_end.data.replace(second=0)
    route.interval_minutes = form.interval_minutes.data
    route.active = form.active.data
    route.updated_at = utcnow()
    db.session.flush()
    return route


def append_stop(route: Route, checkpoint: Checkpoint) -> None:
    """Put an active checkpoint of the route's site at the end of the route."""
    if not checkpoint.active:
        raise DomainError(_("%(name)s is inactive and cannot be patrolled.", name=checkpoint.name))
    if any(stop.checkpoint_id == checkpoint.id for stop in route.stops):
        raise DomainError(_("%(name)s is already on this route.", name=checkpoint.name))
    _renumber(route, [*route.stops, RouteStop(checkpoint=checkpoint)])


def reorder_stop(route: Route, stop: RouteStop, offset: int) -> None:
    """Move a stop one place up (-1) or down (+1); past either end nothing changes."""
    stops = list(route.stops)
    index = stops.index(stop)
    if 0 <= index + offset < len(stops):
        stops[index], stops[index + offset] = stops[index + offset], stops[index]
        _renumber(route, stops)


def delete_stop(route: Route, stop: RouteStop) -> None:
    _renumber(route, [s for s in route.stops if s is not stop])


def _renumber(route: Route, stops: list[RouteStop]) -> None:
    """Store `stops` as the route's order 0…n-1 and mark the route changed (coverage ETag)."""
    route.stops = stops
    for position, stop in enumerate(stops):
        stop.position = position
    route.updated_at = utcnow()
    db.session.flush()


def addable_checkpoints(route: Route) -> list[Checkpoint]:
    on_route = [stop.checkpoint_id for stop in route.stops]
    return db.session.scalars(
        select(Checkpoint)
        .outerjoin(Area, Area.id == Checkpoint.area_id)
        .where(
            Checkpoint.site_id == route.site_id,
            Checkpoint.active,
            Checkpoint.id.not_in(on_route),
        )
        .order_by(*listing_order())
    ).all()


def _index_context(site: Site, **overrides) -> dict:
    routes = db.session.scalars(
        select(Route)
        .where(Route.site_id == site.id)
        .options(selectinload(Route.stops))
        .order_by(Route.name)
    ).all()
    context = {
        "site": site,
        "areas": site.areas,
        "posts": site.posts,
        "routes": routes,
        "area_form": AreaForm(formdata=None),
        "post_form": PostForm(formdata=None),
        "route_form": RouteForm(
            formdata=None,
            weekdays=[choice.value for choice in WEEKDAY_CHOICES],
            window_start=time(0),
            window_end=time(0),
            interval_minutes=120,
        ),
    }
    context.update(overrides)
    return context


def _created(template: str, site: Site, **context):
    """The new row (201) for htmx; a plain form post goes back to the page."""
    if is_htmx():
        return render(template, status=201, site=site, **context)
    return redirect(url_for("places.index", site_code=site.code), 303)


def _refused(partial: str, target: str, site: Site, **context):
    """422: the new-item form replaces itself (htmx), or the whole page is shown again."""
    response = render("places/index.html", partial, status=422, **_index_context(site, **context))
    return retarget(response, target)


@bp.get("/s/<site_code>/places")
@roles_required(*MANAGERS)
def index(site_code: str):
    site = site_or_403(site_code)
    return render("places/index.html", **_index_context(site))


@bp.post("/s/<site_code>/areas")
@roles_required(*MANAGERS)
def create_area(site_code: str):
    site = site_or_403(site_code)
    form = AreaForm()
    area, error = submit_form(form, lambda: save_area(site, form))
    if area is None:
        return _refused(
            "places/_new_area.html", "#new-area", site, area_form=form, area_error=error
        )
    return _created("places/_area_row.html", site, area=area)


@bp.get("/s/<site_code>/areas/<int:area_id>")
@roles_required(*MANAGERS)
def area_row(site_code: str, area_id: int):
    site = site_or_403(site_code)
    return render("places/_area_row.html", site=site, area=site_object(Area, area_id, site))


@bp.get("/s/<site_code>/areas/<int:area_id>/edit")
@roles_required(*MANAGERS)
def edit_area(site_code: str, area_id: int):
    site = site_or_403(site_code)
    area = site_object(Area, area_id, site)
    form = AreaForm(formdata=None, obj=area)
    return render("places/_edit_area.html", site=site, area=area, form=form)


@bp.post("/s/<site_code>/areas/<int:area_id>")
@roles_required(*MANAGERS)
def update_area(site_code: str, area_id: int):
    site = site_or_403(site_code)
    area = site_object(Area, area_id, site)
    form = AreaForm()
    saved, error = submit_form(form, lambda: save_area(site, form, area))
    if saved is None:
        return render(
            "places/_edit_area.html", status=422, site=site, area=area, form=form, error=error
        )
    return render("places/_area_row.html", site=site, area=area)


@bp.post("/s/<site_code>/posts")
@roles_required(*MANAGERS)
def create_post(site_code: str):
    site = site_or_403(site_code)
    form = PostForm()
    post, error = submit_form(form, lambda: save_post(site, form))
    if post is None:
        return _refused(
            "places/_new_post.html", "#new-post", site, post_form=form, post_error=error
        )
    return _created("places/_post_row.html", site, post=post)


@bp.get("/s/<site_code>/posts/<int:post_id>")
@roles_required(*MANAGERS)
def post_row(site_code: str, post_id: int):
    site = site_or_403(site_code)
    return render("places/_post_row.html", site=site, post=site_object(Post, post_id, site))


@bp.get("/s/<site_code>/posts/<int:post_id>/edit")
@roles_required(*MANAGERS)
def edit_post(site_code: str, post_id: int):
    site = site_or_403(site_code)
    post = site_object(Post, post_id, site)
    form = PostForm(formdata=None, obj=post)
    return render("places/_edit_post.html", site=site, post=post, form=form)


@bp.post("/s/<site_code>/posts/<int:post_id>")
@roles_required(*MANAGERS)
def update_post(site_code: str, post_id: int):
    site = site_or_403(site_code)
    post = site_object(Post, post_id, site)
    form = PostForm()
    saved, error = submit_form(form, lambda: save_post(site, form, post))
    if saved is None:
        return render(
            "places/_edit_post.html", status=422, site=site, post=post, form=form, error=error
        )
    return render("places/_post_row.html", site=site, post=post)


@bp.post("/s/<site_code>/routes")
@roles_required(*MANAGERS)
def create_route(site_code: str):
    site = site_or_403(site_code)
    form = RouteForm()
    route, error = submit_form(form, lambda: save_route(site, form))
    if route is None:
        return _refused(
            "places/_new_route.html", "#new-route", site, route_form=form, route_error=error
        )
    return _created("places/_route_row.html", site, route=route)


@bp.get("/s/<site_code>/routes/<int:route_id>")
@roles_required(*MANAGERS)
def route_page(site_code: str, route_id: int):
    site = site_or_403(site_code)
    route = site_object(Route, route_id, site)
    return render("places/route.html", **_stops_context(site, route))


@bp.get("/s/<site_code>/routes/<int:route_id>/row")
@roles_required(*MANAGERS)
def route_row(site_code: str, route_id: int):
    site = site_or_403(site_code)
    return render("places/_route_row.html", site=site, route=site_object(Route, route_id, site))


@bp.get("/s/<site_code>/routes/<int:route_id>/edit")
@roles_required(*MANAGERS)
def edit_route(site_code: str, route_id: int):
    site = site_or_403(site_code)
    route = site_object(Route, route_id, site)
    form = RouteForm(formdata=None, obj=route)
    form.weekdays.data = list(route.weekdays)
    return render("places/_edit_route.html", site=site, route=route, form=form)


@bp.post("/s/<site_code>/routes/<int:route_id>")
@roles_required(*MANAGERS)
def update_route(site_code: str, route_id: int):
    site = site_or_403(site_code)
    route = site_object(Route, route_id, site)
    form = RouteForm()
    saved, error = submit_form(form, lambda: save_route(site, form, route))
    if saved is None:
        return render(
            "places/_edit_route.html", status=422, site=site, route=route, form=form, error=error
        )
    return render("places/_route_row.html", site=site, route=route)


def _stops_context(site: Site, route: Route, **overrides) -> dict:
    context = {
        "site": site,
        "route": route,
        "addable": addable_checkpoints(route),
        "stop_form": StopForm(formdata=None),
    }
    context.update(overrides)
    return context


def _stops_changed(site: Site, route: Route, change):
    """Run a stop change; answer with the stop list (htmx) or back to the route page."""
    try:
        change()
    except DomainError as exc:
        db.session.rollback()
        return _stops_refused(site, route, exc.message)
    db.session.commit()
    if not is_htmx():
        return redirect(url_for("places.route_page", site_code=site.code, route_id=route.id), 303)
    return render("places/_stops.html", **_stops_context(site, route))


def _stops_refused(site: Site, route: Route, message: str):
    context = _stops_context(site, route, stop_error=message)
    return render("places/route.html", "places/_stops.html", status=422, **context)


def _route_stop(route: Route, checkpoint_id: int) -> RouteStop:
    for stop in route.stops:
        if stop.checkpoint_id == checkpoint_id:
            return stop
    abort(404, description=_("This checkpoint is not on the route."))


@bp.post("/s/<site_code>/routes/<int:route_id>/stops")
@roles_required(*MANAGERS)
def add_stop(site_code: str, route_id: int):
    site = site_or_403(site_code)
    route = site_object(Route, route_id, site)
    form = StopForm()
    if not form.validate_on_submit():
        messages = [str(error) for errors in form.errors.values() for error in errors]
        return _stops_refused(site, route, " ".join(messages))
    checkpoint = site_object(Checkpoint, form.checkpoint_id.data, site)
    return _stops_changed(site, route, lambda: append_stop(route, checkpoint))


@bp.post("/s/<site_code>/routes/<int:route_id>/stops/<int:checkpoint_id>/<any(up, down):way>")
@roles_required(*MANAGERS)
def move_stop(site_code: str, route_id: int, checkpoint_id: int, way: str):
    site = site_or_403(site_code)
    route = site_object(Route, route_id, site)
    stop = _route_stop(route, checkpoint_id)
    offset = -1 if way == "up" else 1
    return _stops_changed(site, route, lambda: reorder_stop(route, stop, offset))


@bp.post("/s/<site_code>/routes/<int:route_id>/stops/<int:checkpoint_id>/remove")
@roles_required(*MANAGERS)
def remove_stop(site_code: str, route_id: int, checkpoint_id: int):
    site = site_or_403(site_code)
    route = site_object(Route, route_id, site)
    stop = _route_stop(route, checkpoint_id)
    return _stops_changed(site, route, lambda: delete_stop(route, stop))
