"""Who may do what: role checks and site scoping used by every view.

Every route names the roles it admits with @roles_required; every site-scoped route loads
its site through site_or_403(), which refuses sites the user is not a member of.
"""

from functools import wraps

from flask import abort, g
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from dutypwa.extensions import db
from dutypwa.models import Site


def roles_required(*roles: str):
    """Log in first; then a role outside `roles` gets a 403 page that says why."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403, description=_("Your role does not allow this page."))
            return view(*args, **kwargs)

        wrapped.allowed_roles = roles
        return wrapped

    return decorator


def site_or_403(code: str) -> Site:
    """The site with this code if the user may see it; 404 if unknown, 403 if not theirs."""
    site = db.session.scalar(select(Site).where(Site.code == code))
    if site is None:
        abort(404, description=_("There is no site with the code %(code)s.", code=code))
    if not current_user.can_see_site(site):
        abort(403, description=_("You are not a member of the site %(name)s.", name=site.name))
    g.site = site
    return site


def site_object(model, object_id: int, site: Site):
    """An area, post, route or checkpoint of this site by id; 404 for any other site's."""
    found = db.session.get(model, object_id)
    if found is None or found.site_id != site.id:
        abort(404, description=_("There is no such record at this site."))
    return found
