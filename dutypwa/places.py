"""Areas, posts and patrol routes of a site (supervisor pages)."""

from flask import Blueprint

from dutypwa.access import roles_required, site_or_403
from dutypwa.http import render
from dutypwa.models import MANAGERS

bp = Blueprint("places", __name__)


@bp.get("/s/<site_code>/places")
@roles_required(*MANAGERS)
def index(site_code: str):
    site = site_or_403(site_code)
    return render("places/index.html", site=site)
