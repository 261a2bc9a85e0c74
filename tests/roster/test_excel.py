"""The roster month to and from Excel (d-10, e-11 3, e-6 3): the export prints on one A4
landscape page wide with its titles and Chinese intact; the import's dry run lists every
problem of the file and of the rules (with the editor's sentences) and the cells it would
change, writing nothing; applied, it is written all or nothing."""

import io
import zipfile
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.models import HolidayDay, HolidayYear, RosterChange, RosterEntry, ShiftTemplate
from dutypwa.roster import checks, core, excel
from tests.roster.test_roster import YEAR, cover_month, new_month, put

MONTH_TEXT = f"{YEAR}-03"
BEFORE = datetime(YEAR - 1, 12, 1, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("english")


def day(number: int) -> date:
    return date(YEAR, 3, number)


@pytest.fixture
def site(make_site):
    site = make_site(code="CUIHU", name="翠湖花园")
    db.session.add(HolidayYear(year=YEAR, status="published"))
    db.session.add(HolidayDay(day=date(YEAR, 3, 8), year=YEAR, kind="rest",
                              holiday_code="test", name_zh="测试"))  # fmt: skip
    for code, name, segments in (("D", "白班", [[480, 1200]]), ("N", "夜班", [[1200, 1920]]),
                                 ("S", "两头班", [[480, 720], [1020, 1260]]),
                                 ("午", "午班", [[720, 870]])):  # fmt: skip
        db.session.add(ShiftTemplate(site=site, code=code, name=name, segments=segments))
    db.session.commit()
    return site


@pytest.fixture
def people(site, make_user):
    return {name: make_user("staff", sites=[site], name=name) for name in ("张伟", "刘芳", "陈杰")}


@pytest.fixture
def covered(site, centre, people, supervisor):
    """March with the centre covered at every minute (R5) by day, night, rest in turn."""
    month = new_month(site)
    cover_month(month, supervisor, centre, people)
    return month


def holding(month, post, people, number: int, code: str | None):
    """The person with the shift `code` (None: no shift) at `post` on day `number`."""
    for person in people.values():
        entry = core.cell_entry(month, post, person, day(number))
        if (entry.template.code if entry else None) == code:
            return person
    raise AssertionError(f"nobody has {code} on day {number}")


def download(client, month_text=MONTH_TEXT) -> bytes:
    response = client.get(f"/s/CUIHU/roster/{month_text}.xlsx")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type == excel.XLSX_TYPE
    return response.data


def edited(data: bytes, change) -> bytes:
    """The workbook after `change(sheet)`, saved as Excel would."""
    book = load_workbook(io.BytesIO(data))
    change(book.worksheets[0])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def row_of(sheet, post, person) -> int:
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        if values[0] == post.name and values[2] == person.username:
            return number
    raise AssertionError(f"no row for {person.display_name} at {post.name}")


def set_code(sheet, post, person, number: int, code) -> None:
    sheet.cell(row=row_of(sheet, post, person), column=excel.NAME_COLUMNS + number, value=code)


def dry_run(client, data: bytes, month_text=MONTH_TEXT, filename="roster.xlsx"):
    return client.post(f"/s/CUIHU/roster/{month_text}/import",
                       data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")  # fmt: skip


def written(month):
    """What a write would change: the version, the entries, the change log."""
    db.session.expire_all()
    entries = db.session.scalar(select(func.count()).select_from(RosterEntry))
    changes = db.session.scalar(select(func.count()).select_from(RosterChange))
    return db.session.get(type(month), month.id).version, entries, changes


def apply_form(page: str) -> dict:
    form = page.split('id="import-apply"')[1].split("</form>")[0]
    value = form.split('name="upload" value="')[1].split('"')[0]
    version = form.split('name="version" value="')[1].split('"')[0]
    return {"upload": value, "version": version}


def test_e11_3_the_export_prints_a4_landscape_one_page_wide_and_chinese_round_trips(
    site, centre, covered, people, supervisor, login, client
):
    put(covered, supervisor, centre, people["陈杰"], day(30), "午")
    login(supervisor)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"  # the sheet as staff see it
    book = load_workbook(io.BytesIO(download(client)))
    sheet = book.worksheets[0]
    assert sheet.page_setup.orientation == "landscape"
    assert int(sheet.page_setup.paperSize) == 9  # A4
    assert int(sheet.page_setup.fitToWidth) == 1
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.print_title_rows == "$1:$3" and sheet.print_title_cols == "$A:$C"
    assert sheet["A1"].value == MONTH_TEXT and sheet["B1"].value == "翠湖花园 值班安排表"
    assert sheet["B2"].value == "人员"
    assert sheet.cell(row=2, column=excel.NAME_COLUMNS + 1).value == "六"  # March 1st, 2031
    days = [sheet.cell(row=1, column=excel.NAME_COLUMNS + n).value for n in range(1, 32)]
    assert days == list(range(1, 32))
    assert sheet.cell(row=3, column=excel.NAME_COLUMNS + 8).value == "休"  # the rest day
    row = row_of(sheet, centre, people["陈杰"])
    assert sheet.cell(row=row, column=2).value == "陈杰"
    assert sheet.cell(row=row, column=excel.NAME_COLUMNS + 30).value == "午"
    for person in people.values():
        entry = core.cell_entry(covered, centre, person, day(2))
        cell = sheet.cell(row=row_of(sheet, centre, person), column=excel.NAME_COLUMNS + 2)
        assert cell.value == (entry.template.code if entry else None)
    legend = book.worksheets[1]
    codes = [list(values[:3]) for values in legend.iter_rows(values_only=True)]
    assert ["午", "午班", "12:00–14:30"] in codes
    assert legend.page_setup.orientation == "landscape"


def test_staff_download_only_a_published_month(site, covered, people, login, client):
    login(people["张伟"])
    assert client.get(f"/s/CUIHU/roster/{MONTH_TEXT}.xlsx").status_code == 404
    covered.status = "published"
    db.session.commit()
    assert load_workbook(io.BytesIO(download(client))).worksheets[0]["A1"].value == MONTH_TEXT


def test_d10_a_round_trip_changes_nothing(site, covered, supervisor, login, client):
    login(supervisor)
    before = written(covered)
    response = dry_run(client, download(client))
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert 'id="import-no-changes"' in page and 'id="import-apply"' not in page
    assert "93 cells read: 0 added, 0 changed, 0 cleared." in page  # 3 people × 31 days
    assert written(covered) == before


def test_r5_the_dry_run_lists_every_problem_with_the_editors_sentences_and_writes_nothing(
    site, centre, covered, people, supervisor, login, client
):
    """R5: a night cleared at the centre is a gap; the dry run names it with the sentence
    the editor shows for the same edit, and writes nothing."""
    night = holding(covered, centre, people, 17, "N")
    core.set_cell(covered, by=supervisor, post=centre, person=night, day=day(17), code="",
                  version=covered.version, now=BEFORE)  # fmt: skip
    editor = [s for p, s in core.grid(covered).problems if p.code == "coverage_gap"]
    db.session.rollback()
    assert len(editor) == 1 and "03-17 20:00" in editor[0]
    login(supervisor)
    before = written(covered)
    export = download(client)
    gap = dry_run(client, edited(export, lambda s: set_code(s, centre, night, 17, "-")))
    page = gap.get_data(as_text=True)
    assert gap.status_code == 200 and 'id="import-apply"' in page
    assert editor[0] in page and "1 cleared" in page
    assert written(covered) == before

    def wrong(sheet):
        set_code(sheet, centre, people["张伟"], 3, "X")
        sheet.cell(row=row_of(sheet, centre, people["刘芳"]), column=3, value="nobody")
        sheet.append(["锅炉房", "某人", people["陈杰"].username])

    bad = dry_run(client, edited(export, wrong))
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'id="import-apply"' not in page
    problems = page.split('id="import-file-problems"')[1].split("</ul>")[0]
    assert "no shift has the code “X” here" in problems
    assert "no member of this site has the staff number “nobody”" in problems
    assert "there is no post “锅炉房” at this site" in problems
    assert written(covered) == before


def test_d10_apply_writes_every_changed_cell(site, centre, covered, people, supervisor, login,
                                             client):  # fmt: skip
    """Two people swap a day and a night: in a draft the old cells are cleared first, so
    neither overlaps on the way."""
    login(supervisor)
    day_person = holding(covered, centre, people, 12, "D")
    night_person = holding(covered, centre, people, 12, "N")

    def swap(sheet):
        set_code(sheet, centre, day_person, 12, "N")
        set_code(sheet, centre, night_person, 12, "D")

    page = dry_run(client, edited(download(client), swap)).get_data(as_text=True)
    assert "0 added, 2 changed, 0 cleared" in page
    version = covered.version
    stale = client.post(f"/s/CUIHU/roster/{MONTH_TEXT}/import/apply",
                        data={**apply_form(page), "version": version - 1})  # fmt: skip
    assert stale.status_code == 409 and 'id="import-apply"' in stale.get_data(as_text=True)
    response = client.post(f"/s/CUIHU/roster/{MONTH_TEXT}/import/apply", data=apply_form(page))
    assert response.status_code == 303, response.get_data(as_text=True)
    db.session.expire_all()
    assert core.cell_entry(covered, centre, day_person, day(12)).template.code == "N"
    assert core.cell_entry(covered, centre, night_person, day(12)).source == "import"
    assert db.session.get(type(covered), covered.id).version > version


def test_a_refused_cell_rolls_back_the_whole_import(
    site, centre, gate, covered, people, supervisor, login, client
):
    login(supervisor)
    holder = holding(covered, centre, people, 20, "D")
    idle = holding(covered, centre, people, 21, None)
    core.add_row(covered, post=gate, person=holder, by=supervisor)
    db.session.commit()

    def overlapping(sheet):
        set_code(sheet, centre, idle, 21, "午")  # fine on its own
        set_code(sheet, gate, holder, 20, "S")  # 08:00–12:00 at the gate while at the centre

    page = dry_run(client, edited(download(client), overlapping)).get_data(as_text=True)
    assert "refused when applied" in page and 'id="import-apply"' in page
    before = written(covered)
    response = client.post(f"/s/CUIHU/roster/{MONTH_TEXT}/import/apply", data=apply_form(page))
    refusals = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="import-refusals"' in refusals
    assert f"{holder.display_name} has overlapping shifts" in refusals
    assert written(covered) == before
    assert core.cell_entry(covered, centre, idle, day(21)) is None


def _overlap_editor(month, supervisor, gate, newcomer, shift):
    with pytest.raises(DomainError) as refused:
        core.set_cell(month, by=supervisor, post=gate, person=newcomer, day=day(9), code="S",
                      version=month.version, now=BEFORE)  # fmt: skip
    return refused.value.message


def _overlap_approval(month, supervisor, gate, newcomer, shift):
    with pytest.raises(DomainError) as refused:
        core.reassign([(shift, newcomer)], by=supervisor, reason="代班", source="substitute",
                      now=BEFORE)  # fmt: skip
    return refused.value.message


def _overlap_import(month, supervisor, gate, newcomer, shift):
    core.add_row(month, post=gate, person=newcomer, by=supervisor)
    db.session.commit()
    data = edited(excel.export(month), lambda s: set_code(s, gate, newcomer, 9, "S"))
    plan = excel.plan_import(month, data, now=BEFORE)
    assert plan.applicable
    return " ".join(sentence for _p, sentence, refused in plan.problems if refused)


@pytest.mark.parametrize("entry_point", [_overlap_editor, _overlap_approval, _overlap_import])
def test_e6_3_the_editor_the_approval_and_the_import_give_the_same_overlap(
    site, centre, gate, people, supervisor, entry_point
):
    """e-6 3: 刘芳 holds the centre's day shift; the gate's split shift for her too (typed,
    approved as a substitute, or imported) overlaps it — the same problems, the same
    sentences, from the same checks."""
    month = new_month(site)
    newcomer = people["刘芳"]
    put(month, supervisor, centre, newcomer, day(9), "D")
    shift = put(month, supervisor, gate, people["张伟"], day(9), "S")
    context = core.context_of(site, core.first_day(month))
    times = core.entry_times(core.template_for(site, gate, "S"), day(9), site)
    context.entries.append(checks.Entry("new", newcomer.id, gate.id, day(9), tuple(
        (datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in times)))  # fmt: skip
    expected = [
        context.sentence(p)
        for p in context.problems()
        if p.severity == checks.HARD and "new" in p.entries
    ]
    assert expected and all("overlapping" in sentence for sentence in expected)
    assert entry_point(month, supervisor, gate, newcomer, shift) == " ".join(expected[:3])


def test_bad_files_are_refused_with_a_message(site, covered, supervisor, login, client):
    login(supervisor)
    not_xlsx = dry_run(client, b"post,person\n", filename="roster.xlsx")
    assert not_xlsx.status_code == 422
    assert "This is not an Excel .xlsx file" in not_xlsx.get_data(as_text=True)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    assert dry_run(client, zipped.getvalue()).status_code == 422
    april = edited(download(client), lambda sheet: sheet.cell(row=1, column=1, value="2031-04"))
    wrong_month = dry_run(client, april)
    assert wrong_month.status_code == 422
    assert "This file is the roster of 2031-04, not of 2031-03." in wrong_month.get_data(
        as_text=True
    )
    large = dry_run(client, b"PK" + b"\0" * (excel.MAX_BYTES + 10))
    assert large.status_code == 413
    missing = client.post(f"/s/CUIHU/roster/{MONTH_TEXT}/import", data={})
    assert missing.status_code == 422


def test_r1_a_published_month_imports_only_with_a_reason(
    site, centre, covered, people, supervisor, login, client
):
    covered.status = "published"
    db.session.commit()
    login(supervisor)
    idle = holding(covered, centre, people, 25, None)
    page = dry_run(client, edited(download(client), lambda s: set_code(s, centre, idle, 25, "午")))
    form = apply_form(page.get_data(as_text=True))
    without = client.post(f"/s/CUIHU/roster/{MONTH_TEXT}/import/apply", data=form)
    assert without.status_code == 422 and "say why it changes" in without.get_data(as_text=True)
    done = client.post(f"/s/CUIHU/roster/{MONTH_TEXT}/import/apply",
                       data={**form, "reason": "加强午班"})  # fmt: skip
    assert done.status_code == 303
    db.session.expire_all()
    assert core.cell_entry(covered, centre, idle, day(25)).source == "amendment"
    change = db.session.scalars(select(RosterChange).order_by(RosterChange.id.desc())).first()
    assert change.reason == "加强午班" and change.action == "amend"
