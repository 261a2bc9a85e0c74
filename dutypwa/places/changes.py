"""Verb functions that change areas, posts and routes: they flush, never commit."""

from flask_babel import gettext as _
from sqlalchemy import func, select

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.models import Area, Checkpoint, Post, Route, RouteStop, Site, utcnow
from dutypwa.models.checkpoint import listing_order
from dutypwa.places.forms import AreaForm, PostForm, RouteForm


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
    post.never_unstaffed = bool(form.never_unstaffed.data)
    post.required_level = form.required_level.data
    post.needs_qualification = bool(form.needs_qualification.data)
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
