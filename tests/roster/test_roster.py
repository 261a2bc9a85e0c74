"""The monthly roster: cell edits with every check, the version, coverage gaps (R5), the
workflow with company review for holiday months (R1, R3), amendments after publishing with
a reason and locked past shifts (R1), level and qualification (R4), and the pages."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.handover import arrive
from dutypwa.models import (
    HolidayDay,
    HolidayYear,
    PostQualification,
    RosterChange,
    RosterEntry,
    ShiftTemplate,
)
from dutypwa.roster import core
from tests.conftest import new_op_id

# Far enough ahead that no shift of it has begun whenever the suite runs.
YEAR = 2031
MONTH = date(YEAR, 3, 1)
HOLIDAY_MONTH = date(YEAR, 5, 1)
BEFORE = datetime(YEAR - 1, 12, 1, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def site(make_site):
    site = make_site(code="CUIHU", name="翠湖花园")
    # The year's arrangement, entered by hand: Labour Day only.
    db.session.add(HolidayYear(year=YEAR, status="published"))
    for day in range(1, 6):
        kind = "statutory" if day < 3 else "rest"
        db.session.add(HolidayDay(day=date(YEAR, 5, day), year=YEAR, kind=kind,
                                  holiday_code="labour_day", name_zh="劳动节"))  # fmt: skip
    for code, name, segments in (("D", "白班", [[480, 1200]]), ("N", "夜班", [[1200, 1920]]),
                                 ("S", "两头班", [[480, 720], [1020, 1260]])):  # fmt: skip
        db.session.add(ShiftTemplate(site=site, code=code, name=name, segments=segments))
    db.session.commit()
    return site


@pytest.fixture
def people(site, make_user):
    return {name: make_user("staff", sites=[site], name=name) for name in ("张伟", "刘芳", "陈杰")}


def new_month(site, first=MONTH):
    month = core.month_of(site, first, create=True)
    db.session.commit()
    return month


def put(month, by, post, person, day, code, reason="", now=BEFORE):
    entry = core.set_cell(month, by=by, post=post, person=person, day=day, code=code,
                          version=month.version, reason=reason, now=now)  # fmt: skip
    db.session.commit()
    return entry


def cover_month(month, by, post, people, first=MONTH):
    """Day, night, rest in turn for three people: the post is never empty (R5)."""
    staff = list(people.values())
    previous = core.month_of(month.site, (first - timedelta(days=1)).replace(day=1), create=True)
    put(previous, by, post, staff[0], first - timedelta(days=1), "N")
    for offset, day in enumerate(core.month_days(first)):
        for index, person in enumerate(staff):
            code = ("D", "N", "")[(offset + index + 1) % 3]
            if code:
                put(month, by, post, person, day, code)


def gaps(month):
    return [p for p, _s in core.grid(month).problems if p.code == "coverage_gap"]


def test_r2_an_overnight_and_a_split_shift_have_real_times(site, centre, people, supervisor):
    month = new_month(site)
    night = put(month, supervisor, centre, people["张伟"], date(YEAR, 3, 31), "N")
    assert night.duty_date == date(YEAR, 3, 31)  # the day it starts
    assert night.start_at == datetime(YEAR, 3, 31, 12, tzinfo=UTC)  # 20:00 in Shanghai
    assert night.end_at == datetime(YEAR, 4, 1, 0, tzinfo=UTC)  # 08:00 the next day
    split = put(month, supervisor, centre, people["刘芳"], date(YEAR, 3, 2), "S")
    assert [(a.hour, b.hour) for a, b in split.times] == [(0, 4), (9, 13)]


def test_a_cell_edit_bumps_the_version_and_a_stale_one_is_refused_409(
    site, centre, people, supervisor
):
    month = new_month(site)
    person, day = people["张伟"], date(YEAR, 3, 3)
    put(month, supervisor, centre, person, day, "D")
    seen = month.version - 1  # the version a second page was drawn with
    with pytest.raises(DomainError) as stale:
        core.set_cell(month, by=supervisor, post=centre, person=person, day=day, code="N",
                      version=seen, now=BEFORE)  # fmt: skip
    assert stale.value.status == 409
    db.session.rollback()
    assert core.cell_entry(month, centre, person, day).template.code == "D"
    put(month, supervisor, centre, person, day, "")
    assert core.cell_entry(month, centre, person, day) is None
    changes = db.session.scalars(
        select(RosterChange.action).where(RosterChange.month_id == month.id)
    )
    assert list(changes) == ["set", "clear"]


def test_an_overlap_is_refused_with_the_reason_and_the_cell_stays(
    site, centre, make_post, people, supervisor
):
    gate = make_post(site, name="正门岗")
    month = new_month(site)
    person, day = people["张伟"], date(YEAR, 3, 3)
    put(month, supervisor, centre, person, day, "D")
    with pytest.raises(DomainError) as refused:
        put(month, supervisor, gate, person, day, "S")  # 08:00–12:00 at the gate too
    assert refused.value.status == 422 and "张伟" in refused.value.message
    db.session.rollback()
    assert core.cell_entry(month, gate, person, day) is None
    # Back to back is refused too: nobody hands over to themself (H1, H8).
    with pytest.raises(DomainError):
        put(month, supervisor, gate, person, day, "N")


def test_r4_a_duty_manager_post_takes_only_a_duty_manager(site, make_post, make_user, supervisor):
    desk = make_post(site, name="值班经理")
    desk.required_level = "duty_manager"
    db.session.commit()
    month = new_month(site)
    leader = make_user("staff", sites=[site], name="领班")
    leader.level = "supervisor"
    manager = make_user("staff", sites=[site], name="值班经理甲")
    manager.level = "duty_manager"
    db.session.commit()
    with pytest.raises(DomainError) as refused:
        put(month, supervisor, desk, leader, date(YEAR, 3, 4), "D")
    assert "cannot take" in refused.value.message
    db.session.rollback()
    assert put(month, supervisor, desk, manager, date(YEAR, 3, 4), "D") is not None


def test_r4_a_post_for_qualified_people_refuses_others(site, make_post, people, supervisor):
    room = make_post(site, name="监控室")
    room.needs_qualification = True
    db.session.add(PostQualification(post=room, user=people["刘芳"]))
    db.session.commit()
    month = new_month(site)
    with pytest.raises(DomainError):
        put(month, supervisor, room, people["张伟"], date(YEAR, 3, 5), "D")
    db.session.rollback()
    assert put(month, supervisor, room, people["刘芳"], date(YEAR, 3, 5), "D") is not None


def test_r5_a_gap_at_the_centre_is_listed_with_its_times_and_blocks_submitting(
    site, centre, people, supervisor
):
    month = new_month(site)
    cover_month(month, supervisor, centre, people)
    assert gaps(month) == []
    hole = date(YEAR, 3, 17)
    night = next(e for e in core.grid(month).sections[0][1] if e[1].get(hole)
                 and e[1][hole].template.code == "N")[0]  # fmt: skip
    put(month, supervisor, centre, night.user, hole, "")
    [gap] = gaps(month)
    assert (gap.start, gap.end) == (datetime(YEAR, 3, 17, 12, tzinfo=UTC),
                                    datetime(YEAR, 3, 18, 0, tzinfo=UTC))  # fmt: skip
    sentence = {p.code: s for p, s in core.grid(month).problems}["coverage_gap"]
    assert "03-17 20:00" in sentence and "03-18 08:00" in sentence
    with pytest.raises(DomainError) as blocked:
        core.submit(month, by=supervisor)
    assert blocked.value.status == 422
    db.session.rollback()
    put(month, supervisor, centre, night.user, hole, "N")
    core.submit(month, by=supervisor)
    assert month.status == "submitted"  # no holidays in March: no company review


def test_r5_the_last_night_of_last_month_covers_the_first_morning(site, centre, people, supervisor):
    month = new_month(site)
    cover_month(month, supervisor, centre, people)
    previous = core.month_of(site, date(YEAR, 2, 1))
    night = db.session.scalar(select(RosterEntry).where(RosterEntry.month_id == previous.id))
    put(previous, supervisor, centre, night.user, night.duty_date, "")
    [gap] = gaps(month)
    assert gap.start == datetime(YEAR, 2, 28, 16, tzinfo=UTC)  # March 1, 00:00 local
    assert gap.end == datetime(YEAR, 3, 1, 0, tzinfo=UTC)


def test_r3_a_holiday_month_goes_to_company_review_by_someone_else(
    site, centre, people, supervisor, director, make_user
):
    month = new_month(site, HOLIDAY_MONTH)
    cover_month(month, supervisor, centre, people, HOLIDAY_MONTH)
    core.submit(month, by=supervisor)
    assert month.requires_company_review and month.status == "company_review"
    with pytest.raises(DomainError) as supervisors_cannot:
        core.approve(month, by=supervisor)
    assert supervisors_cannot.value.status == 403
    own = make_user("director", sites=[site])
    month.submitted_by_id = own.id
    with pytest.raises(DomainError) as not_own:
        core.approve(month, by=own)
    assert not_own.value.status == 403
    month.submitted_by_id = supervisor.id
    core.approve(month, by=director, comment="节日加强值守")
    assert month.status == "approved" and month.reviewed_by_id == director.id
    with pytest.raises(DomainError):
        core.submit(month, by=supervisor)  # no going back without a return
    core.publish(month, by=supervisor)
    entry = db.session.scalar(select(RosterEntry).where(
        RosterEntry.month_id == month.id, RosterEntry.duty_date == date(YEAR, 5, 1)))  # fmt: skip
    assert month.published and entry.day_kind == "statutory"
    # A later correction of the calendar does not change what was planned (frozen).
    db.session.get(HolidayDay, date(YEAR, 5, 1)).kind = "rest"
    db.session.commit()
    assert db.session.get(RosterEntry, entry.id).day_kind == "statutory"


def test_r1_only_an_approved_month_is_published_and_a_return_needs_a_reason(
    site, centre, people, supervisor, director
):
    month = new_month(site)
    with pytest.raises(DomainError):
        core.publish(month, by=supervisor)
    cover_month(month, supervisor, centre, people)
    core.submit(month, by=supervisor)
    with pytest.raises(DomainError):
        core.return_to_draft(month, by=director, comment=" ")
    core.return_to_draft(month, by=director, comment="3月8日人手不足")
    assert month.status == "draft" and month.comment == "3月8日人手不足"


def published(site, centre, people, supervisor, director):
    month = new_month(site)
    cover_month(month, supervisor, centre, people)
    core.submit(month, by=supervisor)
    core.approve(month, by=director)
    core.publish(month, by=supervisor)
    db.session.commit()
    return month


def test_r1_a_published_roster_changes_only_with_a_reason_on_record(
    site, centre, make_post, people, supervisor, director
):
    month = published(site, centre, people, supervisor, director)
    gate = make_post(site, name="正门岗")
    person, day = people["张伟"], date(YEAR, 3, 20)
    with pytest.raises(DomainError) as no_reason:
        put(month, supervisor, gate, person, day + timedelta(days=5), "S")
    assert no_reason.value.status == 422
    db.session.rollback()
    before = core.cell_entry(month, centre, person, day)
    other = next(p for p in people.values()
                 if core.cell_entry(month, centre, p, day) is None)  # fmt: skip
    # Swap a day shift for its resting colleague: two amendments, each with the reason.
    if before is not None:
        code = before.template.code
        put(month, supervisor, centre, other, day, code, reason="张伟家中有事")
        put(month, supervisor, centre, person, day, "", reason="张伟家中有事")
        db.session.refresh(before)
        assert before.status == "replaced" and before.ical_sequence == 1
        change = db.session.scalars(
            select(RosterChange).where(RosterChange.action == "amend")
        ).all()[-1]
        assert change.reason == "张伟家中有事" and change.before["code"] == code


def test_r1_shifts_already_begun_are_locked_and_a_published_gap_is_refused(
    site, centre, people, supervisor, director
):
    month = published(site, centre, people, supervisor, director)
    day = date(YEAR, 3, 10)
    holder = next(p for p in people.values() if (e := core.cell_entry(month, centre, p, day))
                  and e.template.code == "D")  # fmt: skip
    during = datetime(YEAR, 3, 10, 3, tzinfo=UTC)  # 11:00 on the 10th
    with pytest.raises(DomainError) as begun:
        put(month, supervisor, centre, holder, day, "", reason="调整", now=during)
    assert "begun" in begun.value.message or "开始" in begun.value.message
    db.session.rollback()
    # Clearing a future shift of the centre would leave it empty (R5): refused.
    later = date(YEAR, 3, 25)
    holder = next(p for p in people.values() if core.cell_entry(month, centre, p, later))
    with pytest.raises(DomainError) as gap:
        put(month, supervisor, centre, holder, later, "", reason="调整")
    assert "Nobody is on duty at" in gap.value.message


def test_an_unknown_holiday_year_never_crashes_and_blocks_only_submitting(
    site, centre, people, supervisor, login, client
):
    first = date(2098, 1, 1)
    month = new_month(site, first)
    put(month, supervisor, centre, people["张伟"], date(2098, 1, 5), "D")
    with pytest.raises(DomainError) as blocked:
        core.submit(month, by=supervisor)
    assert "2098" in blocked.value.message
    db.session.rollback()
    login(supervisor)
    page = client.get("/s/CUIHU/roster/2098-01")
    assert page.status_code == 200 and "holiday-banner" in page.get_data(as_text=True)


# The pages


def cell_post(client, month, post, person, day, code, version=None, **extra):
    data = {"post": post.id, "person": person.id, "day": day.isoformat(), "code": code,
            "version": month.version if version is None else version, **extra}  # fmt: skip
    return client.post(f"/s/CUIHU/roster/{month.month}/cell", data=data,
                       headers={"HX-Request": "true"})  # fmt: skip


def test_the_grid_cell_edit_answers_the_cell_and_out_of_band_the_rest(
    site, centre, people, supervisor, login, client
):
    month = new_month(site)
    core.add_row(month, post=centre, person=people["张伟"], by=supervisor)
    db.session.commit()
    login(supervisor)
    page = client.get("/s/CUIHU/roster/2031-03").get_data(as_text=True)
    assert 'id="coverage-' in page and 'id="roster-problems"' in page
    response = cell_post(client, month, centre, people["张伟"], date(YEAR, 3, 2), "D")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert text.lstrip().startswith(f'<td id="cell-{centre.id}-{people["张伟"].id}-2031-03-02"')
    assert 'value="D"' in text.split("</td>")[0]
    for target in ('id="roster-problems"', 'id="roster-version"'):
        assert re.search(target + r"[^>]*hx-swap-oob=true", text), target
    # A table row after a cell must come in a <template> (htmx 4: <hx-partial>), or the
    # HTML parser drops the <tr> and its cells land beside the edited one (issue 11).
    assert re.search(
        rf'<hx-partial hx-target="#coverage-{centre.id}" hx-swap="outerHTML">\s*'
        rf'<tr id="coverage-{centre.id}"',
        text,
    )
    hours = f'id="hours-{centre.id}-{people["张伟"].id}">12.0</td>'  # the row's new total
    assert hours in text and hours in client.get("/s/CUIHU/roster/2031-03").get_data(as_text=True)
    assert f'value="{month.version}"' in text

    stale = cell_post(client, month, centre, people["张伟"], date(YEAR, 3, 2), "N", version=1)
    assert stale.status_code == 409
    assert 'value="D"' in stale.get_data(as_text=True).split("</td>")[0]  # as it is now

    unknown = cell_post(client, month, centre, people["张伟"], date(YEAR, 3, 3), "X")
    assert unknown.status_code == 422 and "cell-error" in unknown.get_data(as_text=True)


def test_staff_see_only_a_published_month_and_cannot_edit(
    site, centre, people, supervisor, director, login, client
):
    month = new_month(site)
    login(people["张伟"])
    assert client.get("/s/CUIHU/roster/2031-03").status_code == 404
    assert (
        cell_post(client, month, centre, people["张伟"], date(YEAR, 3, 2), "D").status_code == 403
    )
    published_month = published(site, centre, people, supervisor, director)
    page = client.get(f"/s/CUIHU/roster/{published_month.month}").get_data(as_text=True)
    assert "cell-code" not in page and "张伟" in page


def test_copy_last_month_aligns_by_weekday(site, centre, people, supervisor, login, client):
    march = new_month(site)
    cover_month(march, supervisor, centre, people)
    login(supervisor)
    response = client.post("/s/CUIHU/roster/2031-04/copy")
    assert response.status_code in (303, 422)
    april = core.month_of(site, date(YEAR, 4, 1))
    source = core.cell_entry(march, centre, people["张伟"], date(YEAR, 3, 6))
    copied = core.cell_entry(april, centre, people["张伟"], date(YEAR, 4, 3))  # 4 weeks on
    assert date(YEAR, 3, 6).weekday() == date(YEAR, 4, 3).weekday()
    assert (source and source.template.code) == (copied and copied.template.code)


def test_fill_a_row_from_a_rotation(site, centre, people, supervisor, login, client):
    month = new_month(site)
    login(supervisor)
    response = client.post("/s/CUIHU/roster/2031-03/fill", data={
        "post": centre.id, "person": people["刘芳"].id, "pattern": "D N - -",
        "from": "2031-03-01"})  # fmt: skip
    assert response.status_code == 303
    rows = select(RosterEntry).where(RosterEntry.month_id == month.id)
    entries = db.session.scalars(rows.order_by(RosterEntry.duty_date))
    codes = [(e.duty_date.day, e.template.code) for e in entries]
    assert codes[:4] == [(1, "D"), (2, "N"), (5, "D"), (6, "N")]


def test_my_roster_and_the_print_page(site, centre, people, supervisor, director, login, client):
    month = new_month(site)
    cover_month(month, supervisor, centre, people)
    login(supervisor)
    draft = client.get("/s/CUIHU/roster/2031-03/print").get_data(as_text=True)
    assert "watermark" in draft and "<svg" in draft
    core.submit(month, by=supervisor)
    core.approve(month, by=director)
    core.publish(month, by=supervisor)
    db.session.commit()
    final = client.get("/s/CUIHU/roster/2031-03/print").get_data(as_text=True)
    assert "watermark" not in final and "王强" in final
    entries = db.session.scalar(select(func.count()).select_from(RosterEntry))
    assert entries > 60


def test_h11_the_coverage_page_names_who_is_rostered_and_who_has_not_checked_in(
    site, centre, people, supervisor, login, client
):
    """The published roster says who should hold the post now; someone rostered whose
    shift began and who has not checked in there is shown absent (H11)."""
    yesterday = datetime.now(UTC).astimezone(site.tz).date() - timedelta(days=1)
    db.session.add(ShiftTemplate(site=site, code="T", name="两天", segments=[[0, 2880]]))
    db.session.commit()
    month = new_month(site, yesterday.replace(day=1))
    core.set_cell(month, by=supervisor, post=centre, person=people["陈杰"], day=yesterday,
                  code="T", version=month.version, now=BEFORE)  # fmt: skip
    month.status = "published"
    db.session.commit()
    login(supervisor)
    page = client.get("/s/CUIHU/coverage").get_data(as_text=True)
    row = page.split(f'id="post-duty-{centre.id}"')[1].split("</li>")[0]
    assert "陈杰" in row and "absent-note" in row
    arrive(centre, by=people["陈杰"], op_id=new_op_id(), device_time=datetime.now(UTC))
    db.session.commit()
    row = client.get("/s/CUIHU/coverage").get_data(as_text=True).split(
        f'id="post-duty-{centre.id}"')[1].split("</li>")[0]  # fmt: skip
    assert "陈杰" in row and "absent-note" not in row  # checked in: the handover is under way


def test_r4_a_swap_is_checked_and_written_as_one_change(site, centre, people, supervisor, director):
    """Two people swap shifts on a published roster: both moves are checked together (one
    alone would leave a gap or an overlap), written as one version, the old entries kept
    as replaced for the calendar feed."""
    month = published(site, centre, people, supervisor, director)
    day = later = date(YEAR, 3, 20)
    on_day = [e for p in people.values() if (e := core.cell_entry(month, centre, p, day))]
    mine = next(e for e in on_day if e.template.code == "D")
    theirs = next(e for e in on_day if e.template.code == "N")
    # One move alone gives a person the day and the night: refused.
    with pytest.raises(DomainError):
        core.reassign([(mine, theirs.user)], by=supervisor, reason="换班", source="swap",
                      now=BEFORE)  # fmt: skip
    db.session.rollback()
    a, b = mine.user, theirs.user
    version = month.version
    created = core.reassign([(mine, b), (theirs, a)], by=supervisor, reason="换班申请",
                            source="swap", now=BEFORE)  # fmt: skip
    db.session.commit()
    assert {(e.user_id, e.duty_date) for e in created} == {(b.id, day), (a.id, later)}
    assert mine.status == theirs.status == "replaced" and mine.ical_sequence == 1
    assert month.version == version + 1
    assert gaps(month) == []
    # Giving a night away to nobody would leave the centre empty (R5): refused whole.
    with pytest.raises(DomainError) as gap:
        core.reassign([(created[0], None)], by=supervisor, reason="请假", source="leave",
                      now=BEFORE)  # fmt: skip
    assert "Nobody is on duty at" in gap.value.message
    db.session.rollback()
    assert db.session.get(RosterEntry, created[0].id).status == "planned"


def test_r4_a_substitute_who_would_overlap_is_refused(site, centre, people, supervisor):
    month = new_month(site)
    day = date(YEAR, 3, 9)
    night = put(month, supervisor, centre, people["张伟"], day, "N")
    put(month, supervisor, centre, people["刘芳"], day, "D")
    with pytest.raises(DomainError) as overlap:
        core.reassign([(night, people["刘芳"])], by=supervisor, reason="代班",
                      source="substitute", now=BEFORE)  # fmt: skip
    assert "刘芳" in overlap.value.message
    db.session.rollback()
    [moved] = core.reassign([(night, people["陈杰"])], by=supervisor, reason="代班",
                            source="substitute", now=BEFORE)  # fmt: skip
    db.session.commit()
    assert moved.user_id == people["陈杰"].id and db.session.get(RosterEntry, night.id) is None
