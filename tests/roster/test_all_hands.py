"""All-hands periods (R7, design e-8 1–5 and e-5 4): a supervisor declares a typhoon for a
site; every member's page shows it and asks for an answer (offline answers arrive once);
new leave in the window is refused with the reason and pending leave is held; approved
leave is listed for a decision and never cancelled; members off duty get one standby entry
each — declaring again adds none, and no coverage is ever taken away; lifting closes the
standby entries and turns standby time after "on site" into comp time."""

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, select

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.models import (
    ACK_STATUSES,
    AllHands,
    AllHandsAck,
    AllHandsLeaveDecision,
    CompLedger,
    HolidayYear,
    PostQualification,
    RosterChange,
    RosterEntry,
    RosterRequest,
    ShiftTemplate,
)
from dutypwa.roster import all_hands, core
from dutypwa.roster.times import local_midnight
from tests.conftest import new_op_id
from tests.roster.test_roster import YEAR, cover_month, new_month, put
from tests.test_access import EVERYONE, EXPECTED, MANAGERS

BEFORE = datetime(YEAR, 3, 1, tzinfo=UTC)
# The typhoon: 10:00 on March 10th to 10:00 on March 11th in Shanghai.
START = datetime(YEAR, 3, 10, 2, tzinfo=UTC)
UNTIL = START + timedelta(hours=24)
DECLARED = START - timedelta(hours=1)
SYNC = {"X-Dutypwa-Sync": "1", "Sec-Fetch-Site": "same-origin"}

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def site(make_site):
    site = make_site(code="CUIHU", name="翠湖花园")
    db.session.add(HolidayYear(year=YEAR, status="published"))
    for code, name, segments in (("D", "白班", [[480, 1200]]), ("N", "夜班", [[1200, 1920]])):
        db.session.add(ShiftTemplate(site=site, code=code, name=name, segments=segments))
    db.session.commit()
    return site


@pytest.fixture
def people(site, make_user):
    names = ("张伟", "刘芳", "陈杰", "赵敏", "孙丽", "王五")
    return {name: make_user("staff", sites=[site], name=name) for name in names}


@pytest.fixture
def month(site, centre, gate, people, supervisor, director):
    """March, published: the centre covered day and night by 张伟, 刘芳 and 陈杰 (all three
    have a shift in the typhoon's window), 赵敏 at the gate on the 10th; 孙丽 and 王五 free."""
    march = new_month(site)
    cover_month(march, supervisor, centre, {n: people[n] for n in ("张伟", "刘芳", "陈杰")})
    put(march, supervisor, gate, people["赵敏"], date(YEAR, 3, 10), "D")
    core.submit(march, by=supervisor)
    core.approve(march, by=director)
    core.publish(march, by=supervisor)
    db.session.commit()
    return march


def declare(site, by, op_id=None, starts_at=START, until=UNTIL, now=DECLARED, **extra):
    values = {"kind": "typhoon", "level": "橙色预警", "instructions": "全体人员留守，检查排水"}
    period, created = all_hands.declare(
        site, by=by, op_id=op_id or new_op_id(), starts_at=starts_at, until=until, now=now,
        **{**values, **extra},
    )  # fmt: skip
    db.session.commit()
    return period, created


def standby_entries() -> list[RosterEntry]:
    return db.session.scalars(
        select(RosterEntry).where(RosterEntry.source == "emergency").order_by(RosterEntry.user_id)
    ).all()


def planned() -> dict[str, tuple]:
    rows = db.session.scalars(select(RosterEntry).where(RosterEntry.status == "planned"))
    return {e.id: (e.user_id, e.post_id, tuple(map(tuple, e.segments))) for e in rows}


def leave(site, person, first: date, days: int = 1, status="approved") -> RosterRequest:
    start = local_midnight(first, site.tz)
    asked = RosterRequest(
        id=new_op_id(), site_id=site.id, kind="leave", requester_id=person.id, reason="家中有事",
        status=status, leave_from=start, leave_to=start + timedelta(days=days),
        expires_at=start, received_at=BEFORE,
    )  # fmt: skip
    db.session.add(asked)
    db.session.commit()
    return asked


def answer(period, person, status, at, op_id=None):
    ack, created = all_hands.record_ack(
        period, by=person, op_id=op_id or new_op_id(), device_time=at, received_at=at,
        status=status,
    )  # fmt: skip
    db.session.commit()
    return ack, created


# Declaring: standby entries (e-8 3) that only add (e-5 4)


def test_r7_declaring_puts_members_off_duty_on_standby_once(
    site, month, people, supervisor, director, centre, make_user
):
    """e-8 3: one standby entry for each member off duty in the window, none for those on a
    shift there (nor for the system administrator); declaring again adds none."""
    make_user("admin", sites=[site], name="系统管理员")
    version = month.version
    period, created = declare(site, supervisor)
    assert created
    on_standby = {entry.user_id for entry in standby_entries()}
    assert on_standby == {people["孙丽"].id, people["王五"].id, supervisor.id, director.id}
    entry = standby_entries()[0]
    assert entry.template.code == "备" and entry.template.name == "备勤"
    assert (entry.start_at, entry.end_at, entry.duty_date) == (START, UNTIL, date(YEAR, 3, 10))
    # The window's real times, split at the site's midnight.
    midnight = datetime(YEAR, 3, 10, 16, tzinfo=UTC)
    assert entry.times == ((START, midnight), (midnight, UNTIL))
    assert entry.month_id == month.id and entry.status == "planned"
    assert entry.post_id == centre.id  # the first post they fit
    db.session.refresh(month)
    assert month.version == version + 1
    changes = db.session.scalars(
        select(RosterChange).where(RosterChange.action == "all_hands")
    ).all()
    assert len(changes) == 4 and all("橙色预警" in change.reason for change in changes)

    again, created = declare(site, supervisor, op_id=period.id)
    assert (again.id, created) == (period.id, False)
    assert len(standby_entries()) == 4
    with pytest.raises(DomainError) as other_details:
        declare(site, supervisor, op_id=period.id, instructions="别的")
    assert other_details.value.status == 409


def test_r7_standby_goes_where_the_person_may_stand(
    site, month, people, supervisor, director, gate, centre
):
    """No rule check turns hard: the person's own post on the roster first, else the first
    post they fit (level, qualification); nobody is put where they do not fit."""
    centre.needs_qualification = True
    for person in (people["张伟"], people["刘芳"], people["陈杰"], supervisor):
        db.session.add(PostQualification(post_id=centre.id, user_id=person.id))
    director.level = "manager"
    gate.required_level = "supervisor"
    db.session.commit()
    april = core.month_of(site, date(YEAR, 4, 1), create=True)
    put(april, supervisor, gate, director, date(YEAR, 4, 2), "D")
    declare(site, supervisor)
    posts = {entry.user_id: entry.post_id for entry in standby_entries()}
    assert posts[director.id] == gate.id  # his row on the roster, though he fits the centre
    assert posts[supervisor.id] == centre.id  # qualified for it
    assert people["孙丽"].id not in posts  # neither qualified for the centre nor a supervisor
    hard = [p for p in core.context_of(site, date(YEAR, 3, 1)).problems() if p.severity == "hard"]
    assert [p.code for p in hard] == ["level"]  # 赵敏 at the gate, from before
    roll = {
        row.person.id: row.why_not
        for row in all_hands.roll_call(all_hands.periods_of(site)[0]).rows
    }
    assert (roll[people["孙丽"].id], roll[people["张伟"].id]) == ("no_post", "on_duty")


def test_e5_4_an_emergency_declaration_never_removes_coverage(
    site, centre, gate, people, supervisor
):
    """e-5 4 (R5, R7): standby entries only add. Every planned shift stays as it was, and the gaps
    at the never-unstaffed centre after declaring are among those before (a draft month
    with a hole on the 10th's day)."""
    march = new_month(site)
    put(march, supervisor, centre, people["张伟"], date(YEAR, 3, 9), "N")
    put(march, supervisor, centre, people["刘芳"], date(YEAR, 3, 10), "N")
    put(march, supervisor, gate, people["赵敏"], date(YEAR, 3, 10), "D")

    def gaps():
        return {
            (p.start, p.end)
            for p in core.context_of(site, date(YEAR, 3, 1)).problems()
            if p.code == "coverage_gap"
        }

    before_entries, before_gaps = planned(), gaps()
    assert any(start <= START < end for start, end in before_gaps)
    declare(site, supervisor)
    after_entries, after_gaps = planned(), gaps()
    assert standby_entries()
    assert {k: v for k, v in after_entries.items() if k in before_entries} == before_entries
    assert set(before_entries) <= set(after_entries)

    def covered(spans, moment):
        return not any(start <= moment < end for start, end in spans)

    moments = [START + timedelta(minutes=30 * n) for n in range(-48, 96)]
    assert all(covered(after_gaps, m) for m in moments if covered(before_gaps, m))


def test_r7_a_period_that_meets_an_open_one_is_refused_extend_it_instead(
    site, month, supervisor, people
):
    period, _ = declare(site, supervisor)
    for start, until in ((START + timedelta(hours=5), UNTIL + timedelta(hours=5)),
                         (UNTIL, UNTIL + timedelta(hours=3))):  # fmt: skip
        with pytest.raises(DomainError) as refused:
            declare(site, supervisor, starts_at=start, until=until)
        db.session.rollback()
        assert refused.value.status == 409 and "extend it instead" in refused.value.message
    later = UNTIL + timedelta(hours=12)
    all_hands.extend(period, by=supervisor, until=later, now=DECLARED)
    db.session.commit()
    assert {entry.end_at for entry in standby_entries()} == {later}
    # The last day's segment runs on to the new end (22:00 on the 11th in Shanghai).
    assert standby_entries()[0].times[-1] == (datetime(YEAR, 3, 10, 16, tzinfo=UTC), later)
    with pytest.raises(DomainError) as too_long:
        all_hands.extend(period, by=supervisor, until=START + timedelta(hours=73), now=DECLARED)
    assert too_long.value.status == 422 and "72 hours" in too_long.value.message
    with pytest.raises(DomainError) as staff:
        declare(site, people["王五"], starts_at=UNTIL + timedelta(days=3),
                until=UNTIL + timedelta(days=4))  # fmt: skip
    assert staff.value.status == 403


# Leave (e-8 1, e-8 2)


def test_r7_new_leave_in_the_window_is_refused_with_the_reason_and_pending_leave_held(
    site, month, supervisor, people
):
    """e-8 1: new leave touching the window gets the reason; pending leave in it is held
    (listed as such) — both until the period is lifted."""
    assert all_hands.window_refusal(site, START, UNTIL) is None
    waiting = leave(site, people["赵敏"], date(YEAR, 3, 11), status="pending")
    period, _ = declare(site, supervisor)
    reason = all_hands.window_refusal(
        site, local_midnight(date(YEAR, 3, 11), site.tz),
        local_midnight(date(YEAR, 3, 12), site.tz),
    )  # fmt: skip
    assert reason == (
        "Typhoon: all hands stay on site from 03-10 10:00 until 03-11 10:00, so no leave is "
        "granted in that time."
    )
    after = local_midnight(date(YEAR, 3, 12), site.tz)
    assert all_hands.window_refusal(site, after, after + timedelta(days=1)) is None
    assert all_hands.leave_in_window(period).pending == [waiting]
    all_hands.lift(period, by=supervisor, now=START + timedelta(hours=3))
    db.session.commit()
    assert all_hands.window_refusal(site, START, UNTIL) is None


def test_r7_approved_leave_is_listed_for_a_decision_and_never_cancelled(
    site, month, supervisor, people, client, login
):
    """e-8 2: approved leave in the window is listed; the person gets no standby entry; a
    manager records "recall" with a note, and the leave is still approved, unchanged."""
    sun = people["孙丽"]
    away = leave(site, sun, date(YEAR, 3, 10))
    elsewhere = leave(site, people["王五"], date(YEAR, 3, 20))
    period, _ = declare(site, supervisor)
    assert sun.id not in {entry.user_id for entry in standby_entries()}
    assert all_hands.leave_in_window(period).approved == [(away, None)]
    assert elsewhere not in [asked for asked, _ in all_hands.leave_in_window(period).approved]

    login(supervisor)
    url = f"/s/{site.code}/all-hands/{period.id}/leave/{away.id}"
    response = client.post(url, data={"decision": "recall", "note": "请回来值班"},
                           headers={"HX-Request": "true"})  # fmt: skip
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="all-hands-period-' in page and "Recall to work" in page and "请回来值班" in page
    decision = db.session.scalar(select(AllHandsLeaveDecision))
    assert (decision.decision, decision.request_id, decision.decided_by_id) == (
        "recall", away.id, supervisor.id)  # fmt: skip
    db.session.refresh(away)
    assert (away.status, away.leave_from, away.leave_to) == (
        "approved", local_midnight(date(YEAR, 3, 10), site.tz),
        local_midnight(date(YEAR, 3, 11), site.tz))  # fmt: skip
    assert client.post(f"/s/{site.code}/all-hands/{period.id}/leave/{elsewhere.id}",
                       data={"decision": "recall"}).status_code == 404  # fmt: skip
    assert client.post(url, data={"decision": "cancel"}).status_code == 422


# Answers (e-8 4)


def ack_op(site, period, status="acknowledged", op_id=None, at="2031-03-10T10:05:00+08:00"):
    return {"id": op_id or new_op_id(), "kind": "all_hands_ack", "device_time": at,
            "payload": {"site": site.code, "subject": period.id, "fields": {"status": status},
                        "photos": []}}  # fmt: skip


def sync(client, *ops):
    body = {"device": {"id": str(uuid.uuid4()), "now": datetime.now(UTC).isoformat()},
            "ops": list(ops)}  # fmt: skip
    response = client.post("/api/v1/sync", json=body, headers=SYNC)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [(r["status"], r["reason"]) for r in response.get_json()["results"]]


def test_r7_an_offline_answer_is_applied_once(
    site, month, supervisor, people, client, login, make_site, make_user
):
    """e-8 4: an answer queued on a phone arrives through the sync API once: a resend is a
    duplicate, other details under its id a conflict; someone of another site is refused."""
    period, _ = declare(site, supervisor)
    wang = people["王五"]
    login(wang)
    op = ack_op(site, period, "on_site")
    assert sync(client, op) == [("created", None)]
    assert sync(client, op) == [("duplicate", None)]  # the resend after a lost answer
    changed = {**op, "payload": {**op["payload"], "fields": {"status": "acknowledged"}}}
    assert sync(client, changed)[0][0] == "conflict"
    [(status, reason)] = sync(client, ack_op(site, period, "asleep"))
    assert status == "rejected" and "read it or are on site" in reason
    acks = db.session.scalars(select(AllHandsAck)).all()
    assert [(a.id, a.user_id, a.status) for a in acks] == [(op["id"], wang.id, "on_site")]
    assert acks[0].device_time == datetime(YEAR, 3, 10, 2, 5, tzinfo=UTC)
    assert acks[0].device_id is not None

    stranger = make_user("staff", sites=[make_site(code="OTHER")])
    login(stranger)
    [(status, _reason)] = sync(client, ack_op(site, period))
    assert status == "rejected"


def test_r7_the_strongest_answer_counts_whatever_order_it_arrives_in(
    site, month, supervisor, people
):
    period, _ = declare(site, supervisor)
    wang = people["王五"]
    answer(period, wang, "on_site", START + timedelta(hours=1))
    answer(period, wang, "acknowledged", START)  # tapped earlier, arrived later
    standing = all_hands.standings_of(period)[wang.id]
    assert (standing.status, standing.answered_at, standing.on_site_at) == (
        "on_site", START, START + timedelta(hours=1))  # fmt: skip
    # The banner's one query takes max(status) as the strongest.
    assert sorted(ACK_STATUSES) == list(ACK_STATUSES)
    [banner] = all_hands.active_for(wang, now=DECLARED)
    assert (banner.period.id, banner.status) == (period.id, "on_site")


# Lifting (e-8 5)


def test_r7_lifting_closes_standby_and_turns_time_on_site_into_comp_time(
    site, month, supervisor, director, people
):
    """e-8 5: on lift, standby entries end at the lift (recorded); comp time accrues from
    each person's "on site" to that end, expiring per the site's setting; answering only
    "read it", or not at all, earns nothing; lifting twice is refused."""
    period, _ = declare(site, supervisor)
    wang, zhang = people["王五"], people["张伟"]
    answer(period, wang, "on_site", START + timedelta(hours=2))
    answer(period, director, "acknowledged", START)
    answer(period, zhang, "on_site", START)  # on his own shift: no standby, no comp time
    lifted_at = START + timedelta(hours=6)
    written = all_hands.lift(period, by=supervisor, now=lifted_at)
    db.session.commit()
    assert [(row.user_id, row.delta_minutes) for row in written] == [(wang.id, 240)]
    row = written[0]
    assert (row.kind, row.source_type, row.source_id) == (
        "accrue_emergency", "all_hands", f"{period.id}:{wang.id}")  # fmt: skip
    assert (row.earned_on, row.expires_on) == (date(YEAR, 3, 10), date(YEAR, 4, 9))
    assert {entry.end_at for entry in standby_entries()} == {lifted_at}
    assert {entry.ical_sequence for entry in standby_entries()} == {1}
    changes = db.session.scalars(select(RosterChange).where(RosterChange.action == "all_hands"))
    cut = [change for change in changes if change.before is not None]
    assert len(cut) == 4 and all(change.after["end"] == lifted_at.isoformat() for change in cut)
    assert db.session.get(AllHands, period.id).lifted_by_id == supervisor.id

    with pytest.raises(DomainError) as twice:
        all_hands.lift(period, by=supervisor, now=lifted_at)
    assert twice.value.status == 409
    db.session.rollback()
    assert all_hands.accrue_standby(period, by=supervisor)[0].id == row.id  # once per person
    assert len(db.session.scalars(select(CompLedger)).all()) == 1
    with pytest.raises(DomainError):
        answer(period, people["孙丽"], "on_site", lifted_at + timedelta(minutes=5))


def test_r7_lifting_before_the_start_cancels_the_standby(site, month, supervisor, people):
    period, _ = declare(site, supervisor)
    answer(period, people["王五"], "on_site", DECLARED)
    assert all_hands.lift(period, by=supervisor, now=START - timedelta(minutes=30)) == []
    db.session.commit()
    assert {entry.status for entry in standby_entries()} == {"cancelled"}
    assert db.session.scalars(select(CompLedger)).all() == []


# Pages: the banner on every page, the manager's page, bad input, access


def local(site, moment: datetime) -> str:
    return site.local(moment).strftime("%Y-%m-%dT%H:%M")


def test_r7_every_page_shows_the_banner_to_the_site_and_nobody_else(
    site, centre, people, supervisor, client, login, make_site, make_user
):
    """Done-when: "a typhoon is declared and every phone shows it"; an answer keeps the
    banner, which then says so; another site's people never see it."""
    now = datetime.now(UTC)
    period, _ = declare(site, supervisor, starts_at=now - timedelta(minutes=5),
                        until=now + timedelta(hours=12), now=now)  # fmt: skip
    wang = people["王五"]
    login(wang)
    for path in (f"/s/{site.code}/log", f"/s/{site.code}/roster/mine", f"/s/{site.code}/comp-time"):
        page = client.get(path).get_data(as_text=True)
        assert "Typhoon: all hands stay on site" in page, path
        assert "全体人员留守，检查排水" in page and "橙色预警" in page
        assert page.count('data-outbox="all_hands_ack"') == 2  # read it / on site
    response = client.post(
        f"/s/{site.code}/all-hands/{period.id}/ack",
        data={"op_id": new_op_id(), "device_time": now.isoformat(), "status": "acknowledged"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 201
    fragment = response.get_data(as_text=True)
    assert fragment.startswith('<div class="all-hands-ack" id="all-hands-ack-done"')
    assert "Read ✓" in fragment and "I am on site" in fragment and "<html" not in fragment
    page = client.get(f"/s/{site.code}/log").get_data(as_text=True)
    assert "Read ✓" in page and page.count('data-outbox="all_hands_ack"') == 1

    outsider = make_user("staff", sites=[make_site(code="OTHER")])
    login(outsider)
    assert "all hands stay on site" not in client.get("/s/OTHER/log").get_data(as_text=True)
    refused = client.post(
        f"/s/{site.code}/all-hands/{period.id}/ack",
        data={"op_id": new_op_id(), "status": "on_site"},
    )
    assert refused.status_code == 403

    login(supervisor)
    all_hands.lift(db.session.get(AllHands, period.id), by=supervisor)
    db.session.commit()
    assert "all hands stay on site" not in client.get(f"/s/{site.code}/log").get_data(as_text=True)


def test_r7_the_banner_costs_one_query(site, people, supervisor):
    now = datetime.now(UTC)
    declare(site, supervisor, starts_at=now, until=now + timedelta(hours=2), now=now)
    statements = []

    def count(*_args):
        statements.append(1)

    db.session.expire_all()
    wang = db.session.get(type(supervisor), people["王五"].id)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        [banner] = all_hands.active_for(wang)
        assert banner.period.site.code == site.code and banner.kind_label == "Typhoon"
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 1


def test_r7_the_offline_reference_lists_the_open_periods(
    site, people, supervisor, client, login, make_site, make_user
):
    now = datetime.now(UTC)
    period, _ = declare(site, supervisor, starts_at=now, until=now + timedelta(hours=2), now=now)
    login(people["王五"])
    reference = client.get("/api/v1/reference", headers=SYNC).get_json()
    [shown] = reference["all_hands"]
    assert shown["id"] == period.id and shown["site"] == site.code
    assert (shown["kind"], shown["kind_label"], shown["level"]) == (
        "typhoon",
        "Typhoon",
        "橙色预警",
    )
    assert shown["until"] == period.until.isoformat() and shown["status"] is None
    login(make_user("staff", sites=[make_site(code="OTHER")]))
    assert client.get("/api/v1/reference", headers=SYNC).get_json()["all_hands"] == []


def test_r7_a_manager_declares_sees_the_roll_call_and_lifts_on_the_page(
    site, centre, people, supervisor, client, login
):
    login(supervisor)
    now = datetime.now(UTC)
    page = client.get(f"/s/{site.code}/all-hands").get_data(as_text=True)
    op_id = re.search(r'name="op_id" value="([0-9a-f-]{36})"', page)[1]
    form = {"op_id": op_id, "kind": "rainstorm", "level": "红色预警", "instructions": "关好门窗",
            "starts_at": "", "until": local(site, now + timedelta(hours=8))}  # fmt: skip
    response = client.post(f"/s/{site.code}/all-hands", data=form)
    assert response.status_code == 303
    assert client.post(f"/s/{site.code}/all-hands", data=form).status_code == 303  # resent
    [period] = db.session.scalars(select(AllHands)).all()
    assert (period.kind, period.declared_by_id) == ("rainstorm", supervisor.id)
    page = client.get(f"/s/{site.code}/all-hands").get_data(as_text=True)
    assert "0 of 7 answered" in page and "Not answered yet:" in page and "王五" in page
    assert "Standby at 客户服务中心" in page
    response = client.post(f"/s/{site.code}/all-hands/{period.id}/lift",
                           headers={"HX-Request": "true"})  # fmt: skip
    assert response.status_code == 200 and "Lifted" in response.get_data(as_text=True)
    again = client.post(f"/s/{site.code}/all-hands/{period.id}/lift")
    assert again.status_code == 409 and "lifted already" in again.get_data(as_text=True)
    history = client.get(f"/s/{site.code}/all-hands").get_data(as_text=True)
    assert f"/s/{site.code}/all-hands/{period.id}" in history


@pytest.mark.parametrize(
    ("start", "until", "status", "text"),
    [
        (2, 1, 422, "comes after the start"),
        (0, 73, 422, "at most 72 hours"),
        (-10, -1, 422, "already passed"),
        (None, "2031-13-40T25:00", 422, "YYYY-MM-DD HH:MM"),
        (None, "", 422, "expected end"),
    ],
)
def test_r7_bad_declarations_are_refused_with_the_reason(
    site, supervisor, client, login, start, until, status, text
):
    login(supervisor)
    now = datetime.now(UTC)
    form = {"op_id": new_op_id(), "kind": "flood", "level": "", "instructions": ""}
    form["starts_at"] = local(site, now + timedelta(hours=start)) if start is not None else ""
    form["until"] = local(site, now + timedelta(hours=until)) if isinstance(until, int) else until
    response = client.post(f"/s/{site.code}/all-hands", data=form)
    assert response.status_code == status
    assert text in response.get_data(as_text=True)
    assert db.session.scalars(select(AllHands)).all() == []


def test_r7_declaring_over_an_open_period_and_bad_forms_are_refused(
    site, supervisor, client, login
):
    login(supervisor)
    now = datetime.now(UTC)
    declare(site, supervisor, starts_at=now, until=now + timedelta(hours=5), now=now)
    form = {"op_id": new_op_id(), "kind": "typhoon",
            "until": local(site, now + timedelta(hours=6))}  # fmt: skip
    response = client.post(f"/s/{site.code}/all-hands", data=form)
    assert response.status_code == 409 and "extend it instead" in response.get_data(as_text=True)
    assert (
        client.post(f"/s/{site.code}/all-hands", data={**form, "kind": "meteor"}).status_code == 422
    )
    assert client.post(f"/s/{site.code}/all-hands", data={**form, "op_id": "x"}).status_code == 422


def test_r7_who_may_do_what(site, people, supervisor, client, login):
    """Managers declare, extend, lift and decide; everyone answers (test_access has the
    whole matrix)."""
    assert {
        EXPECTED[f"all_hands.{name}"] == MANAGERS
        for name in ("index", "declare", "show", "extend", "lift", "decide_leave")
    } == {True}
    assert EXPECTED["all_hands.ack"] == EVERYONE
    login(people["王五"])
    assert client.get(f"/s/{site.code}/all-hands").status_code == 403
    assert client.post(f"/s/{site.code}/all-hands", data={}).status_code == 403
    login(supervisor)
    assert client.get(f"/s/{site.code}/all-hands").status_code == 200
    assert client.get(f"/s/{site.code}/all-hands/{new_op_id()}").status_code == 404


def test_r7_asking_for_leave_in_the_window_or_approving_it_is_refused(
    site, month, supervisor, people
):
    """Through the requests themselves (R4 + R7): new leave touching the period is refused
    with its reason, and leave asked before it cannot be approved while it is in force."""
    from dutypwa.errors import DomainError
    from dutypwa.roster import requests

    person = people["赵敏"]
    waiting = leave(site, person, date(YEAR, 3, 11), status="pending")
    waiting.expires_at = UNTIL + timedelta(days=1)
    db.session.commit()
    declare(site, supervisor)
    with pytest.raises(DomainError) as asked:
        requests.create_request(site, by=person, op_id=new_op_id(), device_time=BEFORE,
                                kind="leave", reason="家中有事", first_day=date(YEAR, 3, 11),
                                last_day=date(YEAR, 3, 11), received_at=BEFORE)  # fmt: skip
    assert "all hands stay on site" in asked.value.message
    db.session.rollback()
    with pytest.raises(DomainError) as approved:
        requests.approve_request(waiting, by=supervisor, now=DECLARED + timedelta(hours=2))
    assert "all hands stay on site" in approved.value.message
    db.session.rollback()
    assert db.session.get(RosterRequest, waiting.id).status == "pending"
