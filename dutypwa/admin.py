"""Administration of users and sites (admin role)."""

from flask import Blueprint

from dutypwa.access import roles_required
from dutypwa.http import render

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/users")
@roles_required("admin")
def users():
    return render("admin/users.html")
