"""The roster month as an Excel sheet and back (d-10): the export a supervisor edits in Excel,
and the import that first lists every problem — of the file, and of the rules by the same
checks the editor runs — with the cells it would change, writing nothing (a dry run).
Applied, every cell goes through core.set_cell, and one refused cell undoes the import.
"""

import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import get_locale
from flask_babel import gettext as _
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from sqlalchemy import select

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.models import Post, RosterEntry, RosterMonth, User, utcnow
from dutypwa.roster import checks, core
from dutypwa.roster.holidays import badge
from dutypwa.roster.times import format_segments

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A month of 40 people is about 20 KB. The limit keeps the file, re-posted base64 with the
# Apply button, under Werkzeug's 500 KB limit for a form field; the unpacked limit stops a
# zip bomb before openpyxl reads it.
MAX_BYTES = 256 * 1024
MAX_UNPACKED_BYTES = 20 * 1024 * 1024
# Columns A–C name the row: post, person, staff number (the username the import finds).
NAME_COLUMNS = 3
HEADER_ROWS = 3
NO_SHIFT = ("", "-")
WEEKDAYS = {"zh": "一二三四五六日", "en": ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")}
THIN = Side(style="thin", color="999999")


# Export


def export(month: RosterMonth) -> bytes:
    """One sheet: row 1 the month (A1, read back by the import), the title and the day
    numbers; row 2 the column names and weekdays; row 3 the 法/休/班 badges; then one row
    per post and person with the shift codes. A4 landscape, one page wide, the header rows
    and name columns repeated on every page. A second sheet is the legend of the codes."""
    grid = core.grid(month)
    site = month.site
    book = Workbook()
    sheet = book.active
    sheet.title = month.month
    days = grid.days
    weekdays = WEEKDAYS["zh" if get_locale().language == "zh" else "en"]
    sheet.append([month.month, f"{site.name} {_('Duty roster')}", None, *[d.day for d in days]])
    sheet.append([_("Post"), _("Person"), _("Staff no."), *[weekdays[d.weekday()] for d in days]])
    sheet.append([None, None, None, *[badge(grid.kinds.get(d)) for d in days]])
    colours = {}
    for post, rows in grid.sections:
        for row, cells in rows:
            codes = []
            for day in days:
                entry = cells.get(day)
                codes.append(entry.template.code if entry else None)
                if entry:
                    colours[entry.template.code] = entry.template.colour
            sheet.append([post.name, row.user.display_name, row.user.username, *codes])
    _style(sheet, len(days), colours)
    _legend(book.create_sheet(_("Shift codes")[:31]), grid.templates)
    book.properties.title = f"{site.name} {month.month}"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _style(sheet, day_count: int, colours: dict) -> None:
    centred = Alignment(horizontal="center", vertical="center")
    for row in sheet.iter_rows(min_row=1, max_row=HEADER_ROWS):
        for cell in row:
            cell.font = Font(bold=True)
            cell.alignment = centred
    sheet["B1"].alignment = Alignment(horizontal="left")
    for row in sheet.iter_rows(min_row=HEADER_ROWS + 1, min_col=NAME_COLUMNS + 1):
        for cell in row:
            cell.alignment = centred
            cell.border = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
            if cell.value in colours:
                cell.fill = PatternFill("solid", fgColor=colours[cell.value].lstrip("#"))
    for letter, width in (("A", 14), ("B", 10), ("C", 10)):
        sheet.column_dimensions[letter].width = width
    for column in range(NAME_COLUMNS + 1, NAME_COLUMNS + day_count + 1):
        sheet.column_dimensions[get_column_letter(column)].width = 4
    sheet.freeze_panes = sheet.cell(row=HEADER_ROWS + 1, column=NAME_COLUMNS + 1)
    _page(sheet)
    sheet.print_title_rows = f"1:{HEADER_ROWS}"
    sheet.print_title_cols = f"A:{get_column_letter(NAME_COLUMNS)}"


def _page(sheet) -> None:
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0  # as many pages down as the people need
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


def _legend(sheet, templates) -> None:
    sheet.append([_("Code"), _("Shift"), _("Times"), _("Post")])
    for template in templates:
        post = template.post.name if template.post_id else _("every post")
        sheet.append([template.code, template.name, format_segments(template.minutes), post])
    sheet.append(["-", _("no shift (an empty cell too)"), None, None])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for letter, width in (("A", 8), ("B", 16), ("C", 24), ("D", 16)):
        sheet.column_dimensions[letter].width = width
    _page(sheet)


# Import: read the file, plan the change (the dry run), apply it


@dataclass
class Change:
    """One cell the import changes: a code added, changed or cleared ("" is no shift)."""

    row: int
    post: Post
    person: User
    day: date
    before: str
    after: str
    entry: RosterEntry | None = None

    @property
    def kind(self) -> str:
        return "added" if not self.before else ("cleared" if not self.after else "changed")


@dataclass
class Plan:
    """The dry run: what the file would do to the month, and every problem it would leave."""

    month: RosterMonth
    file_problems: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    # [(problem, sentence, refused)]: the month after the import, by checks.check_roster;
    # `refused` marks a problem core.set_cell refuses the cell for when applied.
    problems: list = field(default_factory=list)
    cells: int = 0

    def of_kind(self, kind: str) -> list[Change]:
        return [change for change in self.changes if change.kind == kind]

    @property
    def refused(self) -> int:
        return sum(1 for _p, _s, refused in self.problems if refused)

    @property
    def applicable(self) -> bool:
        return not self.file_problems and bool(self.changes)


class ImportRefused(DomainError):
    """Applying the import was refused cell by cell; nothing of it is written."""

    def __init__(self, refusals: list[str]):
        super().__init__(_("The import was refused; nothing was changed."), 422)
        self.refusals = refusals


def read_sheet(data: bytes):
    """The first sheet of an .xlsx file as rows of values; 4xx for anything else."""
    if len(data) > MAX_BYTES:
        raise DomainError(
            _("The file is larger than %(kb)d KB; a month's roster is far smaller.",
              kb=MAX_BYTES // 1024),
            413,
        )  # fmt: skip
    not_xlsx = DomainError(_("This is not an Excel .xlsx file; upload the exported sheet."), 422)
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise not_xlsx
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
                raise not_xlsx
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        rows = [tuple(row) for row in book.worksheets[0].iter_rows(values_only=True)]
        book.close()
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as error:
        raise not_xlsx from error
    return rows


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _month_text(value) -> str:
    # Excel turns "2031-03" typed into the cell into a date.
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m")
    return _text(value)


def plan_import(month: RosterMonth, data: bytes, *, now: datetime | None = None) -> Plan:
    """The dry run: every problem of the file (wrong month, unknown post, person or code,
    the day columns), the cells it would add, change or clear, and every problem of the
    month as it would be after the import, from the same checks as the editor. Rows not in
    the file stay as they are. Writes nothing."""
    now = now or utcnow()
    site, first = month.site, core.first_day(month)
    days = core.month_days(first)
    rows = read_sheet(data)
    plan = Plan(month=month)
    problems = plan.file_problems
    if not rows:
        problems.append(_("The sheet is empty."))
        return plan
    if _month_text(rows[0][0]) != month.month:
        problems.append(
            _("This file is the roster of %(file)s, not of %(month)s.",
              file=_month_text(rows[0][0]) or "?", month=month.month)
        )  # fmt: skip
    header = [_text(v) for v in rows[0][NAME_COLUMNS : NAME_COLUMNS + len(days) + 1]]
    if header[: len(days)] != [str(d.day) for d in days] or any(header[len(days) :]):
        problems.append(
            _("The day columns are not those of %(month)s: export the month again.",
              month=month.month)
        )  # fmt: skip
    if problems:
        return plan

    posts = {
        post.name: post for post in db.session.scalars(select(Post).where(Post.site_id == site.id))
    }
    members = {user.username: user for user in _members(site)}
    current = {
        (entry.post_id, entry.user_id, entry.duty_date): entry
        for entry in db.session.scalars(
            select(RosterEntry).where(
                RosterEntry.month_id == month.id, RosterEntry.status == "planned"
            )
        )
    }
    seen = {}
    for number, values in enumerate(rows[HEADER_ROWS:], start=HEADER_ROWS + 1):
        values = list(values) + [None] * (NAME_COLUMNS + len(days))
        post_name, username = _text(values[0]), _text(values[2])
        codes = [_text(v) for v in values[NAME_COLUMNS : NAME_COLUMNS + len(days)]]
        if not post_name and not username and not any(codes):
            continue
        post, person = posts.get(post_name), members.get(username)
        if post is None:
            problems.append(_("Row %(row)d: there is no post “%(post)s” at this site.",
                              row=number, post=post_name))  # fmt: skip
        if person is None:
            problems.append(
                _("Row %(row)d: no member of this site has the staff number “%(username)s”.",
                  row=number, username=username)
            )  # fmt: skip
        if post is None or person is None:
            continue
        if (post.id, person.id) in seen:
            problems.append(_("Row %(row)d repeats row %(first)d (the same post and person).",
                              row=number, first=seen[(post.id, person.id)]))  # fmt: skip
            continue
        seen[(post.id, person.id)] = number
        for day, code in zip(days, codes, strict=True):
            code = "" if code in NO_SHIFT else code
            plan.cells += 1
            if code and core.template_for(site, post, code) is None:
                problems.append(_("Row %(row)d, %(day)s: no shift has the code “%(code)s” here.",
                                  row=number, day=day.strftime("%m-%d"), code=code))  # fmt: skip
                continue
            entry = current.get((post.id, person.id, day))
            before = entry.template.code if entry else ""
            if before != code:
                plan.changes.append(Change(number, post, person, day, before, code, entry))
    if not problems:
        _foresee_locks(plan, now)
        _check(plan, site, first)
    return plan


def _members(site) -> list[User]:
    return db.session.scalars(select(User).where(User.active, User.sites.any(id=site.id))).all()


def _foresee_locks(plan: Plan, now: datetime) -> None:
    """R1: in a published month a shift that has begun no longer changes; set_cell would
    refuse the cell, so the dry run says so first."""
    if not plan.month.published:
        return
    site = plan.month.site
    for change in plan.changes:
        starts = [change.entry.start_at] if change.entry else []
        if change.after:
            starts.append(_segments(site, change)[0][0])
        if any(start <= now for start in starts):
            plan.file_problems.append(
                _("Row %(row)d, %(day)s: this shift has begun or is over; it can no longer "
                  "change.", row=change.row, day=change.day.strftime("%m-%d"))
            )  # fmt: skip


def _segments(site, change: Change) -> tuple:
    """The real times of the cell's new shift, as core.set_cell would write them."""
    template = core.template_for(site, change.post, change.after)
    times = core.entry_times(template, change.day, site)
    return tuple((datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in times)


def _check(plan: Plan, site, first: date) -> None:
    """checks.check_roster over the month as it would be after the import (through the
    editor's Context, so the sentences are the editor's), each problem marked when the
    editor's rule in core.set_cell would refuse its cell."""
    context = core.context_of(site, first)
    before = context.problems()
    replaced = {change.entry.id for change in plan.changes if change.entry is not None}
    added = []
    for change in plan.changes:
        if not change.after:
            continue
        entry_id = f"import:{change.row}:{change.day.isoformat()}"
        added.append(checks.Entry(entry_id, change.person.id, change.post.id, change.day,
                                  _segments(site, change)))  # fmt: skip
    context.entries = [e for e in context.entries if e.id not in replaced] + added
    new_ids = {entry.id for entry in added}
    published = plan.month.published
    for problem in context.problems():
        refused = problem.severity == checks.HARD and (
            bool(new_ids & set(problem.entries))
            or (published and problem.code == "coverage_gap" and problem not in before)
        )
        plan.problems.append((problem, context.sentence(problem), refused))


def apply_import(
    plan: Plan, *, by: User, reason: str = "", now: datetime | None = None
) -> list[Change]:
    """Every changed cell through core.set_cell with one Context, so each is checked as the
    editor checks it. All or nothing: any refusal raises ImportRefused with every refusal
    (the caller rolls back). In a draft the old cells are cleared first, so a person moved
    between posts does not overlap with themself on the way; in a published month the new
    shifts come first, so a post that is never unstaffed is not left empty on the way (R5).
    Adds and flushes, never commits."""
    if not plan.applicable:
        raise DomainError(_("Nothing to apply: fix the file's problems first."), 422)
    month = plan.month
    if month.status not in core.EDITABLE:
        raise core.UnderReview()
    if month.published and not (reason or "").strip():
        raise DomainError(_("The roster is published: say why it changes."), 422)
    context = core.context_of(month.site, core.first_day(month))
    if month.published:
        steps = [(c, c.after) for c in plan.changes if c.after]
        steps += [(c, "") for c in plan.changes if not c.after]
    else:
        steps = [(c, "") for c in plan.changes if c.before]
        steps += [(c, c.after) for c in plan.changes if c.after]
    refusals = []
    for change, code in steps:
        try:
            core.set_cell(month, by=by, post=change.post, person=change.person, day=change.day,
                          code=code, version=month.version, reason=reason, source="import",
                          now=now, context=context)  # fmt: skip
        except DomainError as refused:
            refusals.append(
                _("Row %(row)d, %(day)s: %(reason)s", row=change.row,
                  day=change.day.strftime("%m-%d"), reason=refused.message)
            )  # fmt: skip
    if refusals:
        raise ImportRefused(refusals)
    return plan.changes
