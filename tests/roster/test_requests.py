"""Leave, swap and substitute requests (R4, design e-4): only an approval changes the roster;
the approver is never the requester and has authority over the site and the requester;
every check runs again at approval; a duty manager is replaced only by a duty manager;
the first approval of a shift wins, the other requests are superseded — concurrently too,
on SQLite and PostgreSQL; a request whose shift began expires; offline requests arrive
through the sync API and are checked again there; and no route lets staff move a shift."""

import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.models import (
    HolidayDay,
    HolidayYear,
    PostQualification,
    RosterChange,
    RosterEntry,
    RosterRequest,
    ShiftTemplate,
    User,
)
from dutypwa.roster import core
from dutypwa.roster import requests as roster_requests
from tests.conftest import new_op_id
from tests.roster.test_roster import YEAR, cover_month, new_month, put
from tests.test_access import API, API_AND_STATION, EXPECTED, PUBLIC

# 09:00 on March 1st in Shanghai: well ahead of every shift the tests ask about.
ASKED = datetime(YEAR, 3, 1, 1, tzinfo=UTC)
DECIDED = ASKED + timedelta(hours=2)
SYNC = {"X-Dutypwa-Sync": "1", "Sec-Fetch-Site": "same-origin"}

pytestmark = pytest.mark.usefixtures("english")


def day(number: int) -> date:
    return date(YEAR, 3, number)


@pytest.fixture
def site(make_site):
    site = make_site(code="CUIHU", name="翠湖花园")
    db.session.add(HolidayYear(year=YEAR, status="published"))
    db.session.add(HolidayDay(day=date(YEAR, 5, 1), year=YEAR, kind="statutory",
                              holiday_code="labour_day", name_zh="劳动节"))  # fmt: skip
    for code, name, segments in (("D", "白班", [[480, 1200]]), ("N", "夜班", [[1200, 1920]]),
                                 ("S", "两头班", [[480, 720], [1020, 1260]])):  # fmt: skip
        db.session.add(ShiftTemplate(site=site, code=code, name=name, segments=segments))
    db.session.commit()
    return site


@pytest.fixture
def people(site, make_user):
    names = ("张伟", "刘芳", "陈杰", "赵敏", "孙丽", "王五")
    return {name: make_user("staff", sites=[site], name=name) for name in names}


@pytest.fixture
def month(site, centre, gate, people, supervisor, director):
    """March, published: the centre covered day and night by 张伟, 刘芳 and 陈杰 (R5); at
    the gate 赵敏 on the 10th (day) and 15th (night), 孙丽 on the 12th (day); 王五 free."""
    march = new_month(site)
    cover_month(march, supervisor, centre, {n: people[n] for n in ("张伟", "刘芳", "陈杰")})
    put(march, supervisor, gate, people["赵敏"], day(10), "D")
    put(march, supervisor, gate, people["孙丽"], day(12), "D")
    put(march, supervisor, gate, people["赵敏"], day(15), "N")
    core.submit(march, by=supervisor)
    core.approve(march, by=director)
    core.publish(march, by=supervisor)
    db.session.commit()
    return march


def shift_of(person, on: date) -> RosterEntry | None:
    return db.session.scalar(
        select(RosterEntry).where(
            RosterEntry.user_id == person.id,
            RosterEntry.duty_date == on,
            RosterEntry.status == "planned",
        )
    )


def ask(site, by, kind, when=ASKED, op_id=None, reason="家中有事", **fields) -> RosterRequest:
    asked, created = roster_requests.create_request(
        site, by=by, op_id=op_id or new_op_id(), device_time=when, received_at=when,
        kind=kind, reason=reason, **fields,
    )  # fmt: skip
    assert created
    db.session.commit()
    return asked


def refused_to_ask(site, by, kind, **fields) -> DomainError:
    with pytest.raises(DomainError) as refused:
        ask(site, by, kind, **fields)
    db.session.rollback()
    return refused.value


def approve(asked, by, now=DECIDED, **kwargs) -> list[RosterEntry]:
    created = roster_requests.approve_request(asked, by=by, now=now, **kwargs)
    db.session.commit()
    return created


def refused_to_approve(asked, by, now=DECIDED, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as refused:
        roster_requests.approve_request(asked, by=by, now=now, **kwargs)
    db.session.rollback()
    return refused.value


def roster_state() -> list[tuple]:
    return sorted(
        db.session.execute(select(RosterEntry.id, RosterEntry.user_id, RosterEntry.status)).all()
    )


# The state machine


def test_r4_a_swap_changes_the_roster_only_when_approved(site, month, people, director):
    """e-4 6: the originals are replaced (SEQUENCE + 1), two new swap entries, the change
    on record, the checks frozen on the request."""
    mine, theirs = shift_of(people["赵敏"], day(10)), shift_of(people["孙丽"], day(12))
    before, version = roster_state(), month.version
    asked = ask(site, people["赵敏"], "swap", entry=mine, counterpart_entry=theirs)
    assert (asked.status, asked.counterpart_id, asked.entry_ids) == (
        "pending", people["孙丽"].id, [mine.id, theirs.id])  # fmt: skip
    assert roster_state() == before and month.version == version  # R4: asking moves nothing

    created = approve(asked, director, note="同意")
    db.session.expire_all()
    assert (asked.status, asked.decided_by_id, asked.decision_note) == ("approved", director.id,
                                                                       "同意")  # fmt: skip
    assert isinstance(asked.checks, list)
    assert {(e.user_id, e.duty_date, e.source) for e in created} == {
        (people["孙丽"].id, day(10), "swap"), (people["赵敏"].id, day(12), "swap")}  # fmt: skip
    for original in (mine, theirs):
        assert (original.status, original.ical_sequence) == ("replaced", 1)
    assert shift_of(people["孙丽"], day(10)).post_id == mine.post_id
    changes = db.session.scalars(select(RosterChange).where(RosterChange.action == "swap")).all()
    assert len(changes) == 2 and {c.reason for c in changes} == {"家中有事"}
    assert month.version == version + 1


def test_r4_the_requester_cancels_while_pending_and_a_closed_request_stays_closed(
    site, month, people, supervisor
):
    asked = ask(site, people["赵敏"], "substitute", entry=shift_of(people["赵敏"], day(10)),
                substitute=people["王五"])  # fmt: skip
    with pytest.raises(DomainError) as not_theirs:
        roster_requests.cancel_request(asked, by=people["孙丽"])
    assert not_theirs.value.status == 403
    db.session.rollback()
    roster_requests.cancel_request(asked, by=people["赵敏"])
    db.session.commit()
    assert asked.status == "cancelled"
    with pytest.raises(DomainError) as twice:
        roster_requests.cancel_request(asked, by=people["赵敏"])
    assert twice.value.status == 409
    db.session.rollback()
    assert refused_to_approve(asked, supervisor).status == 409
    assert shift_of(people["赵敏"], day(10)) is not None


def test_r4_a_refusal_needs_a_note_and_is_final(site, month, people, supervisor):
    asked = ask(site, people["赵敏"], "substitute", entry=shift_of(people["赵敏"], day(10)),
                substitute=people["王五"])  # fmt: skip
    with pytest.raises(DomainError) as no_note:
        roster_requests.reject_request(asked, by=supervisor, note=" ")
    assert no_note.value.status == 422
    db.session.rollback()
    with pytest.raises(DomainError) as own:
        roster_requests.reject_request(asked, by=people["赵敏"], note="x")
    assert own.value.status == 403
    db.session.rollback()
    roster_requests.reject_request(asked, by=supervisor, note="当天人手紧张")
    db.session.commit()
    assert (asked.status, asked.decision_note, asked.decided_by_id) == (
        "rejected", "当天人手紧张", supervisor.id)  # fmt: skip
    assert refused_to_approve(asked, supervisor).status == 409
    with pytest.raises(DomainError):
        roster_requests.cancel_request(asked, by=people["赵敏"])


# Who decides (e-4 1, 2)


def test_r4_the_requester_never_approves_and_the_approver_outranks_them(
    site, month, gate, people, supervisor, director, make_user
):
    """e-4 1–2: a supervisor's own request goes to someone above them; staff never decide."""
    chief = make_user("supervisor", sites=[site], name="周强")
    put(month, supervisor, gate, chief, day(20), "D", reason="加班")
    asked = ask(site, chief, "substitute", entry=shift_of(chief, day(20)),
                substitute=people["王五"])  # fmt: skip
    assert refused_to_approve(asked, chief).status == 403  # never the requester
    assert refused_to_approve(asked, supervisor).status == 403  # not above a supervisor
    assert refused_to_approve(asked, people["刘芳"]).status == 403  # staff decide nothing
    approve(asked, director)
    assert asked.status == "approved"


def test_r4_a_manager_of_another_site_cannot_decide(site, month, people, make_user, make_site):
    elsewhere = make_user("supervisor", sites=[make_site()], name="外站主管")
    asked = ask(site, people["赵敏"], "substitute", entry=shift_of(people["赵敏"], day(10)),
                substitute=people["王五"])  # fmt: skip
    assert refused_to_approve(asked, elsewhere).status == 403
    assert asked.status == "pending"


# Who may take a shift (e-4 3)


def test_r4_a_duty_manager_is_replaced_only_by_a_duty_manager(
    site, month, make_post, make_user, supervisor, director
):
    desk = make_post(site, name="值班经理")
    desk.required_level = "duty_manager"
    levels = {"经理甲": "duty_manager", "领班": "supervisor", "经理乙": "duty_manager"}
    managers = {name: make_user("staff", sites=[site], name=name) for name in levels}
    for name, level in levels.items():
        managers[name].level = level
    db.session.commit()
    put(month, supervisor, desk, managers["经理甲"], day(18), "D", reason="值班经理")
    entry = shift_of(managers["经理甲"], day(18))
    refused = refused_to_ask(site, managers["经理甲"], "substitute", entry=entry,
                             substitute=managers["领班"])  # fmt: skip
    assert refused.status == 422 and "cannot take" in refused.message and "领班" in refused.message
    asked = ask(site, managers["经理甲"], "substitute", entry=entry, substitute=managers["经理乙"])
    approve(asked, director)
    assert shift_of(managers["经理乙"], day(18)).post_id == desk.id


def test_r4_an_unqualified_substitute_is_refused_when_asked_and_when_approved(
    site, month, make_post, people, supervisor
):
    """e-4 3–4: a qualification withdrawn after the request is caught at approval."""
    room = make_post(site, name="监控室")
    room.needs_qualification = True
    for name in ("孙丽", "王五"):
        db.session.add(PostQualification(post=room, user=people[name]))
    db.session.commit()
    put(month, supervisor, room, people["孙丽"], day(25), "D", reason="监控室")
    entry = shift_of(people["孙丽"], day(25))
    refused = refused_to_ask(site, people["孙丽"], "substitute", entry=entry,
                             substitute=people["赵敏"])  # fmt: skip
    assert "not qualified" in refused.message and "赵敏" in refused.message
    asked = ask(site, people["孙丽"], "substitute", entry=entry, substitute=people["王五"])
    db.session.execute(
        PostQualification.__table__.delete().where(PostQualification.user_id == people["王五"].id)
    )
    db.session.commit()
    refused = refused_to_approve(asked, supervisor)
    assert refused.status == 422 and "王五" in refused.message
    assert asked.status == "pending" and shift_of(people["孙丽"], day(25)).id == entry.id


# Checks run again at approval (e-4 4)


def test_r4_every_check_runs_again_on_the_roster_as_it_is_at_approval(
    site, month, gate, people, supervisor, login, client
):
    asked = ask(site, people["赵敏"], "substitute", entry=shift_of(people["赵敏"], day(10)),
                substitute=people["王五"])  # fmt: skip
    assert core.assess(roster_requests.moves_of(asked)) == []
    # Meanwhile 王五 is put on a split shift at the gate that day: taking the day shift
    # too would overlap.
    put(month, supervisor, gate, people["王五"], day(10), "S", reason="临时加岗")
    before = roster_state()
    refused = refused_to_approve(asked, supervisor)
    assert refused.status == 422 and "王五 has overlapping shifts" in refused.message
    assert roster_state() == before and asked.status == "pending"
    # The inbox says so before anyone presses the button, and that the roster changed.
    login(supervisor)
    page = client.get("/s/CUIHU/roster/requests/inbox").get_data(as_text=True)
    assert "王五 has overlapping shifts" in page and "problem-hard" in page
    assert "The roster has changed since this was asked" in page


# Leave (R4, R5)


def test_r4_r5_leave_needs_cover_where_a_gap_would_open_and_then_holds(
    site, month, gate, people, supervisor
):
    """Leave on the 21st–22nd covers 张伟's day shift of the 21st and night of the 22nd. With
    nobody to cover, the centre would be empty (R5): refused with the gap. With 王五 on
    both, approved; the approved leave is then a hard rule for later edits."""
    zhang = people["张伟"]
    asked = ask(site, zhang, "leave", first_day=day(21), last_day=day(22))
    inside = roster_requests.entries_of(asked)
    assert [(e.duty_date, e.template.code) for e in inside] == [(day(21), "D"), (day(22), "N")]
    refused = refused_to_approve(asked, supervisor)
    assert "Nobody is on duty at 客户服务中心" in refused.message
    half = {inside[0].id: people["王五"]}
    assert "Nobody is on duty at" in refused_to_approve(asked, supervisor, cover=half).message
    assert refused_to_approve(asked, supervisor, cover={inside[0].id: zhang}).status == 422

    cover = {entry.id: people["王五"] for entry in inside}
    approve(asked, supervisor, cover=cover)
    assert asked.status == "approved"
    assert asked.cover == {entry.id: people["王五"].id for entry in inside}
    assert shift_of(zhang, day(21)) is None and shift_of(people["王五"], day(22)) is not None
    context = core.context_of(site, date(YEAR, 3, 1))
    assert [(leave.person, leave.start) for leave in context.leave] == [
        (zhang.id, asked.leave_from)]  # fmt: skip
    with pytest.raises(DomainError) as back:
        put(month, supervisor, gate, zhang, day(21), "D", reason="调回")
    assert "during approved leave" in back.value.message


def test_r4_leave_on_days_without_shifts_keeps_them_free(site, month, gate, people, supervisor):
    asked = ask(site, people["王五"], "leave", first_day=day(26), last_day=day(27))
    assert asked.entry_ids == [] and asked.expires_at == asked.leave_from
    approve(asked, supervisor)
    with pytest.raises(DomainError) as planned:
        put(month, supervisor, gate, people["王五"], day(27), "D", reason="补人")
    assert "during approved leave" in planned.value.message


# The first approval wins (e-4 5)


def two_requests_for_one_shift(site, people):
    """赵敏 asks 王五 to take her day shift of the 10th; 孙丽 asks to swap it for her 12th."""
    shift = shift_of(people["赵敏"], day(10))
    substitute = ask(site, people["赵敏"], "substitute", entry=shift, substitute=people["王五"])
    swap = ask(site, people["孙丽"], "swap", entry=shift_of(people["孙丽"], day(12)),
               counterpart_entry=shift)  # fmt: skip
    return shift, substitute, swap


def test_r4_the_first_approval_wins_and_the_other_request_is_superseded(
    site, month, people, supervisor, director
):
    _shift, substitute, swap = two_requests_for_one_shift(site, people)
    approve(substitute, supervisor)
    assert swap.status == "superseded" and swap.decided_by_id is None
    assert "赵敏" in swap.decision_note and "approved first" in swap.decision_note
    refused = refused_to_approve(swap, director)
    assert refused.status == 409 and "Superseded" in refused.message
    assert shift_of(people["王五"], day(10)) is not None
    assert shift_of(people["孙丽"], day(12)) is not None  # her own shift stays hers


def test_r4_a_shift_changed_on_the_grid_supersedes_its_request(
    site, month, gate, people, supervisor
):
    asked = ask(site, people["赵敏"], "substitute", entry=shift_of(people["赵敏"], day(15)),
                substitute=people["王五"])  # fmt: skip
    put(month, supervisor, gate, people["赵敏"], day(15), "D", reason="改白班")
    with pytest.raises(roster_requests.RequestClosed):
        roster_requests.approve_request(asked, by=supervisor, now=DECIDED)
    db.session.commit()  # the closing is kept
    db.session.expire_all()
    assert asked.status == "superseded" and shift_of(people["王五"], day(15)) is None


def test_r4_two_approvals_at_the_same_moment_exactly_one_wins(
    app, site, month, people, supervisor, director, monkeypatch
):
    """e-4 5 under concurrency, on whichever database runs the suite (SQLite or
    PostgreSQL): two managers approve two requests for the same shift at once. The
    winner holds its lock a while; the other waits, then finds its request superseded."""
    shift, substitute, swap = two_requests_for_one_shift(site, people)
    jobs = {substitute.id: supervisor.id, swap.id: director.id}
    db.session.commit()
    reassign = core.reassign

    def slow_reassign(*args, **kwargs):
        created = reassign(*args, **kwargs)
        time.sleep(0.4)  # inside the transaction: the other approval must wait for this
        return created

    monkeypatch.setattr(core, "reassign", slow_reassign)
    start, outcomes = threading.Barrier(len(jobs)), {}

    def decide(request_id, approver_id):
        with app.test_request_context(headers={"Accept-Language": "en"}):
            asked = db.session.get(RosterRequest, request_id)
            approver = db.session.get(User, approver_id)
            start.wait()
            try:
                roster_requests.approve_request(asked, by=approver, now=DECIDED)
                db.session.commit()
                outcomes[request_id] = "approved"
            except DomainError as refused:
                db.session.rollback()
                outcomes[request_id] = refused.status
            finally:
                db.session.remove()

    threads = [threading.Thread(target=decide, args=job) for job in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(map(str, outcomes.values())) == ["409", "approved"], outcomes
    db.session.expire_all()
    statuses = {request_id: db.session.get(RosterRequest, request_id).status for request_id in jobs}
    winner = next(rid for rid, outcome in outcomes.items() if outcome == "approved")
    assert statuses[winner] == "approved"
    assert sorted(statuses.values()) == ["approved", "superseded"]
    # The shift changed hands once: one replacement, one new entry on the 10th at the gate.
    assert db.session.get(RosterEntry, shift.id).status == "replaced"
    on_the_tenth = db.session.scalars(
        select(RosterEntry).where(
            RosterEntry.post_id == shift.post_id,
            RosterEntry.duty_date == day(10),
            RosterEntry.status == "planned",
        )
    ).all()
    assert len(on_the_tenth) == 1


# Expiry and notice (e-4 8, R4)


def test_r4_a_request_whose_shift_has_begun_expires(site, month, people, supervisor):
    shift = shift_of(people["赵敏"], day(10))
    asked = ask(site, people["赵敏"], "substitute", entry=shift, substitute=people["王五"])
    later = ask(site, people["赵敏"], "substitute", entry=shift_of(people["赵敏"], day(15)),
                substitute=people["王五"])  # fmt: skip
    during = shift.start_at + timedelta(hours=1)
    with pytest.raises(roster_requests.RequestClosed) as closed:
        roster_requests.approve_request(asked, by=supervisor, now=during)
    assert "begun" in closed.value.message
    db.session.commit()
    db.session.expire_all()
    assert asked.status == "expired" and shift_of(people["赵敏"], day(10)).id == shift.id
    assert later.status == "pending"
    assert roster_requests.expire_due(site, now=datetime(YEAR, 3, 16, tzinfo=UTC)) == 1
    db.session.commit()
    assert later.status == "expired" and later.decision_note


def test_r4_requests_are_made_at_least_the_notice_ahead(site, month, people):
    shift = shift_of(people["赵敏"], day(10))  # starts 03-10 08:00, 00:00 UTC
    fields = {"entry": shift, "substitute": people["王五"]}
    late = refused_to_ask(site, people["赵敏"], "substitute",
                          when=shift.start_at - timedelta(hours=20), **fields)  # fmt: skip
    assert late.status == 422 and "at least 1 day ahead;" in late.message
    site.settings = {"roster_request_notice_days": 2}
    db.session.commit()
    two_days = shift.start_at - timedelta(days=2)
    short = refused_to_ask(site, people["赵敏"], "substitute",
                           when=two_days + timedelta(minutes=1), **fields)  # fmt: skip
    assert "at least 2 days ahead" in short.message
    assert ask(site, people["赵敏"], "substitute", when=two_days, **fields).status == "pending"


def test_r4_an_offline_request_counts_from_when_it_was_asked(site, month, people):
    """Asked in time on a phone whose clock is right, it arrives late but before the
    shift: accepted. Arriving after the shift began: refused."""
    shift = shift_of(people["赵敏"], day(10))
    common = {"kind": "substitute", "reason": "发烧", "entry": shift, "substitute": people["王五"]}
    asked, created = roster_requests.create_request(
        site, by=people["赵敏"], op_id=new_op_id(), device_time=ASKED, clock_offset_s=0.0,
        received_at=shift.start_at - timedelta(hours=2), **common,
    )  # fmt: skip
    assert created and asked.when == ASKED
    db.session.rollback()
    with pytest.raises(DomainError) as too_late:
        roster_requests.create_request(
            site, by=people["赵敏"], op_id=new_op_id(), device_time=ASKED, clock_offset_s=0.0,
            received_at=shift.start_at + timedelta(minutes=1), **common,
        )  # fmt: skip
    assert "begun" in too_late.value.message


# Bad input


def test_r4_only_ones_own_published_shifts_and_members_of_the_site(
    site, month, people, make_user, make_site, supervisor
):
    zhao, sun = people["赵敏"], people["孙丽"]
    mine, hers = shift_of(zhao, day(10)), shift_of(sun, day(12))
    outsider = make_user("staff", sites=[make_site()], name="外人")
    for kind, fields, words in (
        ("substitute", {"entry": hers, "substitute": people["王五"]}, "your own shifts"),
        ("swap", {"entry": mine, "counterpart_entry": shift_of(zhao, day(15))}, "colleague"),
        ("substitute", {"entry": mine, "substitute": outsider}, "not a member"),
        ("substitute", {"entry": mine, "substitute": zhao}, "colleague"),
        ("leave", {"first_day": day(22), "last_day": day(21)}, "on or after"),
        ("leave", {"first_day": day(1), "last_day": day(31) + timedelta(days=1)}, "at most"),
    ):
        refused = refused_to_ask(site, zhao, kind, **fields)
        assert refused.status == 422 and words in refused.message, (kind, refused.message)
    assert "Say why" in refused_to_ask(site, zhao, "substitute", entry=mine,
                                       substitute=people["王五"], reason="  ").message  # fmt: skip
    # A draft month's shift is not on the published roster.
    april = new_month(site, date(YEAR, 4, 1))
    draft = put(april, supervisor, month.rows[0].post, zhao, date(YEAR, 4, 3), "D")
    refused = refused_to_ask(site, zhao, "substitute", entry=draft, substitute=people["王五"])
    assert "published" in refused.message
    # One open request per shift and person.
    ask(site, zhao, "substitute", entry=mine, substitute=people["王五"])
    assert refused_to_ask(site, zhao, "leave", first_day=day(10), last_day=day(10)).status == 409


def test_parse_request_refuses_malformed_forms(site, month, people, make_site):
    other_site = make_site()
    for form, words in (
        ({"kind": "holiday"}, "leave, a swap or a substitute"),
        ({"kind": "leave", "first_day": "tomorrow"}, "first and the last day"),
        ({"kind": "swap", "entry": "nope"}, "shift of this site"),
        ({"kind": "substitute", "entry": shift_of(people["赵敏"], day(10)).id,
          "substitute": "x"}, "who would take"),
    ):  # fmt: skip
        with pytest.raises(DomainError) as refused:
            roster_requests.parse_request(site, form)
        assert words in refused.value.message
    elsewhere = {"kind": "swap", "entry": shift_of(people["赵敏"], day(10)).id}
    with pytest.raises(DomainError):
        roster_requests.parse_request(other_site, elsewhere)


# Offline: the outbox and the sync API


def request_op(shift, substitute, op_id=None, reason="发烧", when=None):
    return {
        "id": op_id or new_op_id(),
        "kind": "roster_request",
        "device_time": when or datetime.now(UTC).isoformat(),
        "payload": {"site": "CUIHU", "fields": {
            "kind": "substitute", "entry": shift.id, "substitute": str(substitute.id),
            "reason": reason, "version": "3"}},
    }  # fmt: skip


def sync(client, *ops):
    body = {"device": {"id": str(uuid.uuid4()), "now": datetime.now(UTC).isoformat()},
            "ops": list(ops)}  # fmt: skip
    response = client.post("/api/v1/sync", json=body, headers=SYNC)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [(r["status"], r["reason"]) for r in response.get_json()["results"]]


def test_r4_an_offline_request_is_applied_once_and_checked_again(
    site, month, people, login, client
):
    zhao = people["赵敏"]
    login(zhao)
    before = roster_state()
    op = request_op(shift_of(zhao, day(10)), people["王五"])
    assert sync(client, op) == [("created", None)]
    assert sync(client, op) == [("duplicate", None)]  # the resend after a lost answer
    other = {**op, "payload": {**op["payload"], "fields": {**op["payload"]["fields"],
                                                          "reason": "别的"}}}  # fmt: skip
    assert sync(client, other)[0][0] == "conflict"
    [(status, reason)] = sync(client, request_op(shift_of(people["孙丽"], day(12)), people["王五"]))
    assert status == "rejected" and "your own shifts" in reason
    asked = db.session.get(RosterRequest, op["id"])
    assert (asked.status, asked.requester_id, asked.roster_version_seen) == ("pending", zhao.id, 3)
    assert asked.device_id is not None
    assert roster_state() == before  # the roster waits for a supervisor


# Staff cannot move a shift (e-4 7)


def staff_may_post(endpoint: str) -> bool:
    allowed = EXPECTED[endpoint]
    return allowed in (PUBLIC, API, API_AND_STATION) or (
        isinstance(allowed, set) and "staff" in allowed
    )


def test_r4_no_route_lets_staff_move_a_shift(app, site, month, gate, people, login, client):
    """e-4 7: every route a staff member may POST to (per the access matrix), called with
    a form that names shifts, people, days and codes: the roster stays as it was. The only
    roster routes staff may post to ask or cancel."""
    zhao, sun = people["赵敏"], people["孙丽"]
    mine, hers = shift_of(zhao, day(10)), shift_of(sun, day(12))
    own = ask(site, zhao, "swap", entry=mine, counterpart_entry=hers)
    rules = [
        rule for rule in app.url_map.iter_rules()
        if "POST" in rule.methods and rule.endpoint != "auth.logout"
        and staff_may_post(rule.endpoint)
    ]  # fmt: skip
    roster_routes = {rule.endpoint for rule in rules if rule.endpoint.startswith("roster")}
    assert roster_routes == {"roster_requests.create", "roster_requests.cancel"}
    values = {"site_code": "CUIHU", "month": "2031-03", "request_id": own.id}
    form = {
        "post": str(gate.id), "person": str(zhao.id), "day": "2031-03-12", "code": "D",
        "version": str(month.version), "reason": "自己调班", "kind": "swap", "entry": hers.id,
        "counterpart_entry": mine.id, "substitute": str(zhao.id), "op_id": new_op_id(),
        "first_day": "2031-03-12", "last_day": "2031-03-12", f"cover-{hers.id}": str(zhao.id),
        "note": "ok", "pattern": "D D", "from": "2031-03-12", "action": "approve",
    }  # fmt: skip
    login(zhao)
    before, version = roster_state(), month.version
    for rule in rules:
        url = rule.build({name: values.get(name, "1") for name in rule.arguments})[1]
        if url.startswith("/api/"):
            op = request_op(hers, zhao)
            response = client.post(url, json={"device": {}, "ops": [op]}, headers=SYNC)
        else:
            response = client.post(url, data=form)
        assert response.status_code < 500, (url, response.status_code)
    db.session.expire_all()
    assert roster_state() == before and month.version == version
    assert own.status == "cancelled"  # her own request: the one thing she may change


# The pages


def test_my_roster_offers_a_request_for_each_coming_shift(
    site, month, people, login, client, monkeypatch
):
    monkeypatch.setattr("dutypwa.roster.views.utcnow", lambda: ASKED)  # own date: YEAR's month
    login(people["赵敏"])
    page = client.get("/s/CUIHU/roster/mine").get_data(as_text=True)
    shift = shift_of(people["赵敏"], day(10))
    assert f"/s/CUIHU/roster/requests/new?entry={shift.id}" in page
    assert "/s/CUIHU/roster/requests" in page


def test_the_phone_form_sends_a_request_and_answers_the_done_fragment(
    site, month, people, login, client
):
    zhao = people["赵敏"]
    shift = shift_of(zhao, day(10))
    login(zhao)
    expectations = {
        "leave": 'name="first_day"',
        "swap": shift_of(people["孙丽"], day(12)).id,
        "substitute": f'value="{people["王五"].id}"',
    }
    for kind, expected in expectations.items():
        page = client.get(f"/s/CUIHU/roster/requests/new?entry={shift.id}&kind={kind}")
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and expected in text, kind
        assert 'data-outbox="roster_request"' in text and 'name="_queued"' in text
    htmx = {"HX-Request": "true"}
    data = {"kind": "substitute", "entry": shift.id, "substitute": str(people["孙丽"].id),
            "reason": "", "op_id": new_op_id(),
            "device_time": datetime.now(UTC).isoformat()}  # fmt: skip
    refused = client.post("/s/CUIHU/roster/requests", data=data, headers=htmx)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and text.lstrip().startswith('<form id="request-form"')
    assert "Say why" in text
    data["reason"] = "发烧"
    sent = client.post("/s/CUIHU/roster/requests", data=data, headers=htmx)
    assert sent.status_code == 201
    assert sent.get_data(as_text=True).lstrip().startswith('<section id="request-done"')
    again = client.post("/s/CUIHU/roster/requests", data=data, headers=htmx)
    assert again.status_code == 200 and "Already sent" in again.get_data(as_text=True)
    mine = client.get("/s/CUIHU/roster/requests").get_data(as_text=True)
    assert "Waiting for a decision" in mine and "Cancel the request" in mine
    assert client.get("/s/CUIHU/roster/requests/inbox").status_code == 403


def test_the_inbox_decides_and_answers_the_card(site, month, people, supervisor, login, client):
    zhao = people["赵敏"]
    refuse_me = ask(site, people["孙丽"], "substitute", entry=shift_of(people["孙丽"], day(12)),
                    substitute=people["王五"])  # fmt: skip
    asked = ask(site, zhao, "leave", first_day=day(10), last_day=day(10))
    [entry] = roster_requests.entries_of(asked)
    login(supervisor)
    inbox = client.get("/s/CUIHU/roster/requests/inbox").get_data(as_text=True)
    assert f'id="request-{asked.id}"' in inbox and f'name="cover-{entry.id}"' in inbox
    htmx = {"HX-Request": "true"}
    card = client.get(f"/s/CUIHU/roster/requests/{asked.id}?cover-{entry.id}={people['王五'].id}",
                      headers=htmx)  # fmt: skip
    assert card.get_data(as_text=True).lstrip().startswith('<article class="card request-card')
    cover = {f"cover-{entry.id}": str(people["王五"].id)}
    approved = client.post(f"/s/CUIHU/roster/requests/{asked.id}/approve", data=cover,
                           headers=htmx)  # fmt: skip
    assert approved.status_code == 200 and "status-approved" in approved.get_data(as_text=True)
    refused = client.post(f"/s/CUIHU/roster/requests/{refuse_me.id}/reject", data={"note": ""},
                          headers=htmx)  # fmt: skip
    assert refused.status_code == 422 and "Say why it is refused" in refused.get_data(as_text=True)
    client.post(f"/s/CUIHU/roster/requests/{refuse_me.id}/reject", data={"note": "人手紧张"})
    db.session.expire_all()
    assert asked.status == "approved" and refuse_me.status == "rejected"
    assert shift_of(people["王五"], day(10)) is not None and shift_of(zhao, day(10)) is None
    login(zhao)
    mine = client.get("/s/CUIHU/roster/requests").get_data(as_text=True)
    assert "Approved" in mine
    assert client.post(f"/s/CUIHU/roster/requests/{asked.id}/approve").status_code == 403
