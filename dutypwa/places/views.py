"""The places pages: one view per action, each parse, call, commit, render."""

from datetime import time

from flask import Blueprint, abort, redirect, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from dutypwa.access import roles_required, site_object, site_or_403
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.forms import submit_form
from dutypwa.http import is_htmx, render, retarget
from dutypwa.models import MANAGERS, Area, Checkpoint, Post, Route, RouteStop, Site
from dutypwa.places.changes import (
    addable_checkpoints,
    append_stop,
    delete_stop,
    reorder_stop,
    save_area,
    save_post,
    save_route,
)
from dutypwa.places.forms import (
    WEEKDAY_CHOICES,
    AreaForm,
    PostForm,
    RouteForm,
    StopForm,
)

bp = Blueprint("places", __name__)


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
