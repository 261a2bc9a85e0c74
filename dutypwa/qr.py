"""QR codes for checkpoints and printable A4 label sheets.

A code encodes `<public base URL>/c/<token>`; re-issuing the token voids the printed label.
"""

import io

import qrcode
import qrcode.image.svg
from flask import Blueprint, abort, current_app, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from dutypwa.access import roles_required, site_object, site_or_403
from dutypwa.extensions import db
from dutypwa.http import render
from dutypwa.models import MANAGERS, Area, Checkpoint
from dutypwa.models.checkpoint import listing_order

bp = Blueprint("qr", __name__)


def checkpoint_url(checkpoint: Checkpoint) -> str:
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/") or request.host_url.rstrip("/")
    return base + url_for("patrol.checkpoint_page", token=checkpoint.token)


def qr_svg(data: str) -> str:
    """An SVG (one path, no fixed size) of `data`, error correction M, 4-module quiet zone."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=4,
        image_factory=qrcode.image.svg.SvgPathImage,
    )
    code.add_data(data)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg") :]


@bp.get("/s/<site_code>/checkpoints/<int:checkpoint_id>/qr.svg")
@roles_required(*MANAGERS)
def checkpoint_qr(site_code: str, checkpoint_id: int):
    site = site_or_403(site_code)
    checkpoint = site_object(Checkpoint, checkpoint_id, site)
    response = current_app.response_class(
        qr_svg(checkpoint_url(checkpoint)), mimetype="image/svg+xml"
    )
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/s/<site_code>/labels")
@roles_required(*MANAGERS)
def labels(site_code: str):
    """A4 sheet of labels for the whole site or one area (?area=<id>); active checkpoints."""
    site = site_or_403(site_code)
    query = (
        select(Checkpoint)
        .outerjoin(Area, Area.id == Checkpoint.area_id)
        .where(Checkpoint.site_id == site.id, Checkpoint.active)
        .order_by(*listing_order())
    )
    area = None
    area_id = request.args.get("area", type=int)
    if area_id is not None:
        area = db.session.get(Area, area_id)
        if area is None or area.site_id != site.id:
            abort(404, description=_("There is no such area at this site."))
        query = query.where(Checkpoint.area_id == area.id)
    checkpoints = db.session.scalars(query).all()
    labels = [
        {"checkpoint": c, "url": checkpoint_url(c), "svg": Markup(qr_svg(checkpoint_url(c)))}
        for c in checkpoints
    ]
    return render("qr/labels.html", site=site, area=area, labels=labels, areas=site.areas)
