"""A site's shift templates (R2): code, name, colour and one or more segments typed as
times ("20:00–08:00", "08:00–12:00 + 17:00–21:00"), for the whole site or one post.
Versioned copy-on-write: changing a template retires it and makes version n+1, so the
entries planned with it keep their times.
"""

import re

from flask import Blueprint, abort, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from dutypwa.access import roles_required, site_object, site_or_403
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.http import render
from dutypwa.models import MANAGERS, Post, ShiftTemplate, Site, utcnow
from dutypwa.roster.core import templates_of
from dutypwa.roster.times import SegmentError, format_segments, parse_segments

bp = Blueprint("shifts", __name__)

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def parse_template(site: Site, form) -> dict:
    """The form's fields, checked; a DomainError (422) says what is wrong."""
    code = (form.get("code") or "").strip()
    if not 1 <= len(code) <= 2 or code == "-" or " " in code:
        raise DomainError(_("The code is one or two characters, e.g. D, N or 夜."), 422)
    name = (form.get("name") or "").strip()[:40]
    if not name:
        raise DomainError(_("Give the shift a name."), 422)
    colour = (form.get("colour") or "#dbeafe").strip()
    if not COLOUR.match(colour):
        raise DomainError(_("Choose a colour."), 422)
    try:
        segments = parse_segments(form.get("times", ""))
    except SegmentError as error:
        raise DomainError(error.message(), 422) from None
    post = None
    if form.get("post"):
        try:
            post = site_object(Post, int(form.get("post")), site)
        except ValueError:
            abort(400)
    return {"code": code, "name": name, "colour": colour, "post": post,
            "segments": [list(segment) for segment in segments]}  # fmt: skip


def _refuse_taken_code(site: Site, code: str, post: Post | None, keep: ShiftTemplate | None):
    for template in templates_of(site):
        same_scope = template.post_id == (post.id if post else None)
        if (
            template.code == code
            and same_scope
            and template.family_id != getattr(keep, "family_id", None)
        ):
            raise DomainError(_("The code %(code)s is taken already.", code=code), 422)


def create_template(site: Site, fields: dict) -> ShiftTemplate:
    _refuse_taken_code(site, fields["code"], fields["post"], None)
    template = ShiftTemplate(site=site, **fields)
    db.session.add(template)
    db.session.flush()
    template.family_id = template.id
    return template


def change_template(template: ShiftTemplate, fields: dict) -> ShiftTemplate:
    """Version n+1 of the template; version n is retired and keeps its entries' times."""
    _refuse_taken_code(template.site, fields["code"], fields["post"], template)
    template.retired_at = utcnow()
    newer = ShiftTemplate(site=template.site, family_id=template.family_id or template.id,
                          version=template.version + 1, **fields)  # fmt: skip
    db.session.add(newer)
    db.session.flush()
    return newer


def _page(site, status=200, error=None, form=None):
    return render(
        "roster/shifts.html",
        status=status,
        site=site,
        templates=templates_of(site),
        posts=db.session.scalars(select(Post).where(Post.site_id == site.id).order_by(Post.name)),
        times=lambda template: format_segments(template.minutes),
        error=error,
        form=form or {},
    )


@bp.get("/s/<site_code>/shifts")
@roles_required(*MANAGERS)
def index(site_code: str):
    return _page(site_or_403(site_code))


@bp.post("/s/<site_code>/shifts")
@roles_required(*MANAGERS)
def create(site_code: str):
    site = site_or_403(site_code)
    try:
        create_template(site, parse_template(site, request.form))
    except DomainError as refused:
        db.session.rollback()
        return _page(site, refused.status, refused.message, request.form)
    db.session.commit()
    return redirect(url_for("shifts.index", site_code=site.code), 303)


@bp.post("/s/<site_code>/shifts/<int:template_id>")
@roles_required(*MANAGERS)
def change(site_code: str, template_id: int):
    site = site_or_403(site_code)
    template = site_object(ShiftTemplate, template_id, site)
    if template.retired_at is not None:
        return _page(site, 409, _("This shift was changed meanwhile; change its newest version."))
    try:
        change_template(template, parse_template(site, request.form))
    except DomainError as refused:
        db.session.rollback()
        return _page(site, refused.status, refused.message, request.form)
    db.session.commit()
    return redirect(url_for("shifts.index", site_code=site.code), 303)


@bp.post("/s/<site_code>/shifts/<int:template_id>/retire")
@roles_required(*MANAGERS)
def retire(site_code: str, template_id: int):
    """No longer offered for new cells; the shifts planned with it stay as they are."""
    site = site_or_403(site_code)
    template = site_object(ShiftTemplate, template_id, site)
    template.retired_at = template.retired_at or utcnow()
    db.session.commit()
    return redirect(url_for("shifts.index", site_code=site.code), 303)
