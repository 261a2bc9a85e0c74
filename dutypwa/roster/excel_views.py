"""The roster month to and from Excel (d-10): the .xlsx download, the upload that shows the
dry run (every problem and the cells it would change, nothing written) and the Apply button,
which re-posts the same file and writes it all or nothing.
"""

import base64
import binascii

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from dutypwa.access import roles_required, site_or_403
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.http import render
from dutypwa.models import MANAGERS, ROLES
from dutypwa.roster import core, excel

bp = Blueprint("roster_excel", __name__)


def _month(site, text: str):
    try:
        first = core.parse_month(text)
    except DomainError as error:
        abort(404, description=error.message)
    month = core.month_of(site, first)
    if month is None:
        abort(404, description=_("There is no roster for this month yet."))
    return month


@bp.get("/s/<site_code>/roster/<month>.xlsx")
@roles_required(*ROLES)
def export(site_code: str, month: str):
    site = site_or_403(site_code)
    record = _month(site, month)
    if current_user.role not in MANAGERS and not record.published:
        abort(404, description=_("The roster of this month is not published yet."))
    filename = f"roster-{site.code}-{record.month}.xlsx"
    return current_app.response_class(
        excel.export(record),
        content_type=excel.XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _page(site, month, *, plan=None, data=b"", status=200, error=None, refusals=()):
    return render(
        "roster/import.html",
        status=status,
        site=site,
        month=month,
        plan=plan,
        upload=base64.b64encode(data).decode() if plan and plan.applicable else "",
        error=error,
        refusals=refusals,
        max_kb=excel.MAX_BYTES // 1024,
    )


def _editable(site, month: str):
    record = _month(site, month)
    if record.status not in core.EDITABLE:
        raise core.UnderReview()
    return record


@bp.get("/s/<site_code>/roster/<month>/import")
@roles_required(*MANAGERS)
def form(site_code: str, month: str):
    site = site_or_403(site_code)
    return _page(site, _editable(site, month))


@bp.post("/s/<site_code>/roster/<month>/import")
@roles_required(*MANAGERS)
def dry_run(site_code: str, month: str):
    """The dry run: the file is read and checked, nothing is written."""
    site = site_or_403(site_code)
    record = _editable(site, month)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(site, record, status=422, error=_("Choose the .xlsx file to import."))
    data = upload.stream.read(excel.MAX_BYTES + 1)
    try:
        plan = excel.plan_import(record, data)
    except DomainError as refused:
        return _page(site, record, status=refused.status, error=refused.message)
    return _page(site, record, plan=plan, data=data, status=422 if plan.file_problems else 200)


@bp.post("/s/<site_code>/roster/<month>/import/apply")
@roles_required(*MANAGERS)
def apply(site_code: str, month: str):
    """The file of the dry run, re-posted, applied all or nothing — if the roster is still
    the version the dry run was made from; else the dry run again, over what it is now."""
    site = site_or_403(site_code)
    record = _editable(site, month)
    try:
        data = base64.b64decode(request.form.get("upload", ""), validate=True)
    except binascii.Error:
        abort(400, description=_("The file of the check is missing; upload it again."))
    plan = excel.plan_import(record, data)
    if request.form.get("version") != str(record.version):
        return _page(site, record, plan=plan, data=data, status=409,
                     error=_("The roster changed since this check; here it is again."))  # fmt: skip
    try:
        changes = excel.apply_import(plan, by=current_user, reason=request.form.get("reason", ""))
    except excel.ImportRefused as refused:
        db.session.rollback()
        return _page(site, record, plan=excel.plan_import(record, data), data=data, status=422,
                     error=refused.message, refusals=refused.refusals)  # fmt: skip
    except DomainError as refused:
        db.session.rollback()
        return _page(site, record, plan=excel.plan_import(record, data), data=data,
                     status=refused.status, error=refused.message)  # fmt: skip
    db.session.commit()
    flash(_("Imported: %(n)d cells changed.", n=len(changes)), "success")
    return redirect(url_for("roster.month", site_code=site.code, month=record.month), 303)
