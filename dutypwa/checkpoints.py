"""Checkpoint administration: active search, inline edit with htmx, re-issuing a label's
token, and CSV import/export (UTF-8 with BOM for Excel; GBK files from Chinese Excel read)."""

import csv
import io

from flask import Blueprint, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from sqlalchemy import func, or_, select
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from dutypwa.access import roles_required, site_object, site_or_403
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.forms import strip, submit_form
from dutypwa.http import is_htmx, render, retarget
from dutypwa.models import CHECKPOINT_KINDS, MANAGERS, Area, Checkpoint, Site
from dutypwa.models.checkpoint import code_key, listing_order

bp = Blueprint("checkpoints", __name__)

CSV_COLUMNS = ["code", "name", "area", "kind", "description", "checklist", "active"]
KIND_CHOICES = [
    SelectChoice("garden", _l("Garden")),
    SelectChoice("equipment", _l("Equipment")),
    SelectChoice("other", _l("Other")),
]


class CheckpointForm(FlaskForm):
    code = StringField(
        _l("Short code"),
        filters=[strip],
        validators=[
            DataRequired(),
            Length(max=12),
            Regexp(r"^[A-Za-z0-9-]+$", message=_l("Letters, digits and - only.")),
        ],
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    area_id = SelectField(_l("Area"), coerce=int, validators=[Optional()])
    kind = SelectField(_l("Kind"), choices=KIND_CHOICES)
    description = StringField(_l("Description"), validators=[Length(max=500)])
    checklist = TextAreaField(_l("Checklist items, one per line"), validators=[Length(max=4000)])
    active = BooleanField(_l("Active"), default=True)

    def __init__(self, site: Site, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.site = site
        self.area_id.choices = [SelectChoice("0", _("No area"))] + [
            SelectChoice(str(area.id), area.name) for area in site.areas
        ]

    def checklist_items(self) -> list[str]:
        return [line.strip()[:200] for line in self.checklist.data.splitlines() if line.strip()]


def save_checkpoint(site: Site, form: CheckpointForm, checkpoint: Checkpoint | None = None):
    """Create or update from a validated form; a taken code is a DomainError (422)."""
    code = form.code.data
    # A typed "7" opens 007 (code_key), so 7 and 007 may not both be codes of the site.
    same_site = db.session.scalars(select(Checkpoint).where(Checkpoint.site_id == site.id))
    clash = next((c for c in same_site if code_key(c.code) == code_key(code)), None)
    if clash is not None and clash is not checkpoint:
        raise DomainError(_("The code %(code)s is used by %(name)s.", code=code, name=clash.name))
    if checkpoint is None:
        checkpoint = Checkpoint(site=site)
        db.session.add(checkpoint)
    checkpoint.code = code
    checkpoint.name = form.name.data.strip()
    checkpoint.area_id = form.area_id.data or None
    checkpoint.kind = form.kind.data
    checkpoint.description = form.description.data.strip()
    checkpoint.checklist = form.checklist_items()
    checkpoint.active = form.active.data
    db.session.flush()
    return checkpoint


def search_checkpoints(site: Site, query: str, *, include_inactive: bool = True):
    statement = (
        select(Checkpoint)
        .outerjoin(Area, Area.id == Checkpoint.area_id)
        .where(Checkpoint.site_id == site.id)
        .order_by(*listing_order())
    )
    if query:
        like = f"%{query}%"
        statement = statement.where(
            or_(Checkpoint.name.ilike(like), Checkpoint.code.ilike(like), Area.name.ilike(like))
        )
    if not include_inactive:
        statement = statement.where(Checkpoint.active)
    return db.session.scalars(statement).all()


@bp.get("/s/<site_code>/checkpoints")
@roles_required(*MANAGERS)
def index(site_code: str):
    site = site_or_403(site_code)
    query = request.args.get("q", "").strip()[:100]
    checkpoints = search_checkpoints(site, query)
    return render(
        "checkpoints/index.html",
        "checkpoints/_rows.html",
        site=site,
        checkpoints=checkpoints,
        q=query,
        form=CheckpointForm(site, formdata=None, code=next_code(site)),
        import_form=ImportForm(formdata=None),
    )


def next_code(site: Site) -> str:
    count = db.session.scalar(select(func.count()).where(Checkpoint.site_id == site.id)) or 0
    for number in range(count + 1, count + 1000):
        code = f"{number:03d}"
        taken = db.session.scalar(
            select(Checkpoint.id).where(Checkpoint.site_id == site.id, Checkpoint.code == code)
        )
        if taken is None:
            return code
    return ""


@bp.post("/s/<site_code>/checkpoints")
@roles_required(*MANAGERS)
def create(site_code: str):
    site = site_or_403(site_code)
    form = CheckpointForm(site)
    checkpoint, error = submit_form(form, lambda: save_checkpoint(site, form))
    if checkpoint is not None:
        if is_htmx():
            return render("checkpoints/_row.html", site=site, checkpoint=checkpoint, status=201)
        return redirect(url_for("checkpoints.index", site_code=site.code), 303)
    response = render(
        "checkpoints/index.html",
        "checkpoints/_new.html",
        status=422,
        site=site,
        checkpoints=search_checkpoints(site, ""),
        q="",
        form=form,
        error=error,
        import_form=ImportForm(formdata=None),
    )
    return retarget(response, "#new-checkpoint")


@bp.get("/s/<site_code>/checkpoints/<int:checkpoint_id>")
@roles_required(*MANAGERS)
def row(site_code: str, checkpoint_id: int):
    site = site_or_403(site_code)
    checkpoint = site_object(Checkpoint, checkpoint_id, site)
    return render("checkpoints/_row.html", site=site, checkpoint=checkpoint)


@bp.get("/s/<site_code>/checkpoints/<int:checkpoint_id>/edit")
@roles_required(*MANAGERS)
def edit(site_code: str, checkpoint_id: int):
    site = site_or_403(site_code)
    checkpoint = site_object(Checkpoint, checkpoint_id, site)
    form = CheckpointForm(site, formdata=None, obj=checkpoint)
    form.area_id.data = checkpoint.area_id or 0
    form.checklist.data = "\n".join(checkpoint.checklist)
    return render("checkpoints/_edit_row.html", site=site, checkpoint=checkpoint, form=form)


@bp.post("/s/<site_code>/checkpoints/<int:checkpoint_id>")
@roles_required(*MANAGERS)
def update(site_code: str, checkpoint_id: int):
    site = site_or_403(site_code)
    checkpoint = site_object(Checkpoint, checkpoint_id, site)
    form = CheckpointForm(site)
    saved, error = submit_form(form, lambda: save_checkpoint(site, form, checkpoint))
    if saved is None:
        return render(
            "checkpoints/_edit_row.html",
            status=422,
            site=site,
            checkpoint=checkpoint,
            form=form,
            error=error,
        )
    return render("checkpoints/_row.html", site=site, checkpoint=checkpoint)


@bp.post("/s/<site_code>/checkpoints/<int:checkpoint_id>/reissue")
@roles_required(*MANAGERS)
def reissue(site_code: str, checkpoint_id: int):
    """Void the printed label: the old token answers 410 from now on."""
    site = site_or_403(site_code)
    checkpoint = site_object(Checkpoint, checkpoint_id, site)
    db.session.add(checkpoint.reissue_token(by_user_id=current_user.id))
    db.session.commit()
    return render(
        "checkpoints/_row.html",
        site=site,
        checkpoint=checkpoint,
        notice=_(
            "New label issued. Print it and replace the old one: the old one no longer works."
        ),
    )


@bp.get("/s/<site_code>/checkpoints.csv")
@roles_required(*MANAGERS)
def export_csv(site_code: str):
    site = site_or_403(site_code)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for checkpoint in search_checkpoints(site, ""):
        writer.writerow(
            [
                checkpoint.code,
                checkpoint.name,
                checkpoint.area.name if checkpoint.area else "",
                checkpoint.kind,
                checkpoint.description,
                "|".join(checkpoint.checklist),
                "1" if checkpoint.active else "0",
            ]
        )
    # A BOM so that Excel opens the UTF-8 file with the Chinese text intact.
    body = "\ufeff" + buffer.getvalue()
    return (
        body,
        200,
        {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="checkpoints-{site.code}.csv"',
        },
    )


class ImportForm(FlaskForm):
    file = FileField(
        _l("CSV file"),
        validators=[FileRequired(), FileAllowed(["csv", "txt"], _l("Choose a .csv file."))],
    )


def decode_csv(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DomainError(_("The file is not a text CSV file (UTF-8 or GBK)."))


def import_checkpoints(site: Site, text: str) -> dict:
    """Create or update checkpoints by code; all rows or none. Errors name the line."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("code", "name") if c not in (reader.fieldnames or [])]
    if missing:
        raise DomainError(
            _("The first line must name the columns; missing: %(cols)s", cols=", ".join(missing))
        )
    areas = {area.name: area for area in site.areas}
    errors, created, updated = [], 0, 0
    seen = set()
    for line, record in enumerate(reader, start=2):
        code = (record.get("code") or "").strip()
        name = (record.get("name") or "").strip()
        kind = (record.get("kind") or "garden").strip() or "garden"
        if not code or not name:
            errors.append(_("Line %(line)d: code and name are required.", line=line))
            continue
        if len(code) > 12 or not code.replace("-", "").isalnum() or len(name) > 100:
            errors.append(_("Line %(line)d: the code or name is too long or malformed.", line=line))
            continue
        if code in seen:
            errors.append(
                _("Line %(line)d: the code %(code)s appears twice.", line=line, code=code)
            )
            continue
        seen.add(code)
        if kind not in CHECKPOINT_KINDS:
            errors.append(_("Line %(line)d: unknown kind %(kind)s.", line=line, kind=kind))
            continue
        active_text = (record.get("active") or "1").strip().lower()
        if active_text not in ("1", "0", "true", "false", "yes", "no", ""):
            errors.append(_("Line %(line)d: active must be 1 or 0.", line=line))
            continue
        area_name = (record.get("area") or "").strip()
        area = None
        if area_name:
            area = areas.get(area_name)
            if area is None:
                area = Area(site=site, name=area_name[:100], position=len(areas))
                db.session.add(area)
                areas[area_name] = area
        checkpoint = db.session.scalar(
            select(Checkpoint).where(Checkpoint.site_id == site.id, Checkpoint.code == code)
        )
        if checkpoint is None:
            checkpoint = Checkpoint(site=site, code=code)
            db.session.add(checkpoint)
            created += 1
        else:
            updated += 1
        checkpoint.name = name
        checkpoint.area = area
        checkpoint.kind = kind
        checkpoint.description = (record.get("description") or "").strip()[:500]
        checkpoint.checklist = [
            item.strip()[:200]
            for item in (record.get("checklist") or "").split("|")
            if item.strip()
        ]
        checkpoint.active = active_text in ("1", "true", "yes", "")
    if errors:
        raise DomainError("\n".join(errors))
    db.session.flush()
    return {"created": created, "updated": updated}


@bp.post("/s/<site_code>/checkpoints/import")
@roles_required(*MANAGERS)
def import_csv(site_code: str):
    site = site_or_403(site_code)
    import_form = ImportForm()
    result, error = None, None
    if import_form.validate_on_submit():
        try:
            result = import_checkpoints(site, decode_csv(import_form.file.data.read()))
        except DomainError as exc:
            db.session.rollback()
            error = exc.message
        else:
            db.session.commit()
    else:
        error = " ".join(str(e) for errors in import_form.errors.values() for e in errors)
    return render(
        "checkpoints/index.html",
        status=200 if result else 422,
        site=site,
        checkpoints=search_checkpoints(site, ""),
        q="",
        form=CheckpointForm(site, formdata=None, code=next_code(site)),
        import_form=import_form,
        import_result=result,
        import_error=error,
    )
