"""Comp time earned and taken (R6, design e-7 1–2, d-3, e-10 3): holiday duty actually worked
accrues — the worked interval from the handover signatures, else the first and last patrol
check-in, matched to the entry across midnight and clipped to its segments; planned but not
attended earns nothing; a statutory day earns only when the site says so; the nightly run is
idempotent. Comp time off (补休) is refused when the balance is short, approved only by a
director, and consumes the earliest-expiring lots first."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.models import (
    CheckIn,
    CompLedger,
    Handover,
    HolidayDay,
    HolidayYear,
    RosterEntry,
    ShiftTemplate,
)
from dutypwa.roster import attendance, comptime, core
from dutypwa.roster import requests as roster_requests
from dutypwa.roster.times import SHANGHAI
from tests.conftest import new_op_id
from tests.roster.test_roster import YEAR, new_month, put

HOLIDAYS = date(YEAR, 5, 1)
# Long after every shift of the tests: the accrual waits for a shift to be over.
LATER = datetime(YEAR, 6, 1, tzinfo=UTC)
ASKED = datetime(YEAR, 4, 20, 1, tzinfo=UTC)
DECIDED = ASKED + timedelta(hours=2)

pytestmark = pytest.mark.usefixtures("english")


def may(day: int) -> date:
    return date(YEAR, 5, day)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time in May, as a UTC moment."""
    return datetime(YEAR, 5, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture
def site(make_site):
    """May 1–2 statutory (法), 3–5 rest days (休); templates D 08:00–20:00, N 20:00–08:00."""
    site = make_site(code="CUIHU", name="翠湖花园")
    db.session.add(HolidayYear(year=YEAR, status="published"))
    for number in range(1, 6):
        kind = "statutory" if number < 3 else "rest"
        db.session.add(HolidayDay(day=may(number), year=YEAR, kind=kind,
                                  holiday_code="labour_day", name_zh="劳动节"))  # fmt: skip
    for code, name, segments in (("D", "白班", [[480, 1200]]), ("N", "夜班", [[1200, 1920]])):
        db.session.add(ShiftTemplate(site=site, code=code, name=name, segments=segments))
    db.session.commit()
    return site


@pytest.fixture
def people(site, make_user):
    return {name: make_user("staff", sites=[site], name=name) for name in ("张伟", "刘芳", "陈杰")}


@pytest.fixture
def roster(site, gate, people, supervisor, director):
    """May, published after the company's review (R3): 张伟 days on the 1st (statutory) and
    3rd (rest), a night on the 4th (rest) and a day on the 10th (a workday); 刘芳 the day of
    the 4th; 陈杰 the night of the 3rd and a day on the 5th (rest)."""
    month = new_month(site, HOLIDAYS)
    for name, number, code in (("张伟", 1, "D"), ("张伟", 3, "D"), ("张伟", 4, "N"),
                               ("张伟", 10, "D"), ("刘芳", 4, "D"), ("陈杰", 3, "N"),
                               ("陈杰", 5, "D")):  # fmt: skip
        put(month, supervisor, gate, people[name], may(number), code)
    core.submit(month, by=supervisor)
    core.approve(month, by=director)
    core.publish(month, by=supervisor)
    db.session.commit()
    return month


def shift_of(person, number: int) -> RosterEntry:
    return db.session.scalar(
        select(RosterEntry).where(
            RosterEntry.user_id == person.id, RosterEntry.duty_date == may(number)
        )
    )


def handover(post, moment, *, incoming, outgoing=None) -> Handover:
    """A signed handover at the post: `incoming` signs at `moment`, `outgoing` right after."""
    made = Handover(
        id=str(uuid.uuid4()), site_id=post.site_id, post_id=post.id, incoming_id=incoming.id,
        outgoing_id=outgoing.id if outgoing else None, shift_start=moment, status="signed",
        arrived_at=moment - timedelta(minutes=5), incoming_signed_at=moment,
        outgoing_signed_at=moment if outgoing else None,
    )  # fmt: skip
    db.session.add(made)
    db.session.commit()
    return made


@pytest.fixture
def scan(site, make_checkpoint):
    checkpoint = make_checkpoint(site)

    def do(person, moment) -> CheckIn:
        made = CheckIn(
            id=str(uuid.uuid4()), site_id=site.id, checkpoint_id=checkpoint.id,
            user_id=person.id, device_time=moment, received_at=moment, visited_at=moment,
            token="t", payload_hash="h",
        )  # fmt: skip
        db.session.add(made)
        db.session.commit()
        return made

    return do


def accrue(site, number: int, now=LATER) -> attendance.AccrualRun:
    run = attendance.accrue_holiday_duty(site, may(number), now=now)
    db.session.commit()
    return run


def accruals(person) -> list[tuple]:
    return [
        (row.kind, row.delta_minutes, row.earned_on)
        for row in db.session.scalars(
            select(CompLedger).where(CompLedger.user_id == person.id).order_by(CompLedger.id)
        )
    ]


# Attendance (d-3, d-8, e-10 3)


def test_r6_a_night_across_midnight_is_one_duty_clipped_to_its_segment(site, roster, gate, people):
    """R6, d-3: the night of the 4th (20:00–08:00) starts with 张伟's signature at 20:05 and
    ends with the handover at 08:02 on the 5th; worked 11 h 57 min, counted inside the
    segment: 11 h 55 min, earned on the 4th (the date the shift starts)."""
    night = shift_of(people["张伟"], 4)
    handover(gate, at(4, 20, 5), incoming=people["张伟"], outgoing=people["刘芳"])
    handover(gate, at(5, 8, 2), incoming=people["陈杰"], outgoing=people["张伟"])
    worked = attendance.attendance(night)
    assert (worked.start, worked.end) == (at(4, 20, 5), at(5, 8, 2))
    assert (worked.start_source, worked.end_source) == ("handover", "handover")
    assert worked.minutes == 11 * 60 + 55
    # The same 08:02 handover ends nothing of 陈杰's, and 刘芳's day shift of the 4th ends
    # with her signature at 20:05, not with the night's handover.
    assert attendance.attendance(shift_of(people["陈杰"], 5)).end is None
    assert attendance.attendance(shift_of(people["刘芳"], 4)).end == at(4, 20, 5)
    accrue(site, 4)
    assert accruals(people["张伟"]) == [("accrue_rest_day", 715, may(4))]


def test_r6_patrol_scans_after_midnight_belong_to_the_night_that_began_the_day_before(
    site, roster, people, scan
):
    """d-3 (frappe #3298): scans at 20:40, 01:30 and 07:20 are one night of the 4th."""
    for moment in (at(4, 20, 40), at(5, 1, 30), at(5, 7, 20)):
        scan(people["张伟"], moment)
    worked = attendance.attendance(shift_of(people["张伟"], 4))
    assert (worked.start, worked.end, worked.start_source) == (at(4, 20, 40), at(5, 7, 20),
                                                              "patrol")  # fmt: skip
    assert worked.minutes == 10 * 60 + 40
    assert attendance.attendance(shift_of(people["张伟"], 3)).start is None  # not the 3rd's day


def test_r6_the_handover_wins_over_a_later_first_patrol_scan(site, roster, gate, people, scan):
    """e-10 3: accepted at the handover at 20:05, first scan at 20:40: the duty began 20:05."""
    night = shift_of(people["张伟"], 4)
    scan(people["张伟"], at(4, 20, 40))
    scan(people["张伟"], at(5, 7, 0))
    assert attendance.attendance(night).start == at(4, 20, 40)
    handover(gate, at(4, 20, 5), incoming=people["张伟"], outgoing=people["刘芳"])
    worked = attendance.attendance(night)
    assert (worked.start, worked.start_source) == (at(4, 20, 5), "handover")
    assert (worked.end, worked.end_source) == (at(5, 7, 0), "patrol")  # no handover yet


# Accrual (e-7 1, 2)


def test_r6_rest_day_duty_attended_accrues_the_worked_minutes(site, roster, gate, people):
    """e-7 1: a rest-day entry plus attendance gives accrue_rest_day of the minutes worked;
    arriving early does not count (07:50 → from 08:00), leaving early does (19:30)."""
    handover(gate, at(3, 7, 50), incoming=people["张伟"])
    handover(gate, at(3, 19, 30), incoming=people["陈杰"], outgoing=people["张伟"])
    run = accrue(site, 3)
    assert accruals(people["张伟"]) == [("accrue_rest_day", 11 * 60 + 30, may(3))]
    entry = run.written[0]
    assert (entry.source_type, entry.source_id) == ("roster_entry", shift_of(people["张伟"], 3).id)
    assert entry.expires_on == may(3) + timedelta(days=30)


def test_r6_statutory_day_duty_accrues_only_when_the_site_says_so(site, roster, gate, people):
    """e-7 1: the 1st is statutory — 300 % pay for payroll, no comp time — unless the site
    turns comp_statutory_accrues on; then it is accrue_statutory."""
    handover(gate, at(1, 8, 0), incoming=people["张伟"])
    handover(gate, at(1, 20, 0), incoming=people["刘芳"], outgoing=people["张伟"])
    assert accrue(site, 1).written == [] and accruals(people["张伟"]) == []
    site.settings = {**(site.settings or {}), "comp_statutory_accrues": True}
    db.session.commit()
    accrue(site, 1)
    assert accruals(people["张伟"]) == [("accrue_statutory", 720, may(1))]


def test_r6_planned_but_not_attended_accrues_nothing(site, roster, people, scan):
    """e-7 2 (frappe's attendance check): 陈杰's rest-day shift on the 5th has no evidence;
    a workday shift attended earns nothing either."""
    scan(people["张伟"], at(10, 9, 0))
    scan(people["张伟"], at(10, 19, 0))
    assert accrue(site, 5).written == [] and accrue(site, 10).written == []
    assert accruals(people["陈杰"]) == [] and accruals(people["张伟"]) == []


def test_r6_the_accrual_runs_twice_without_a_second_row_and_corrects_by_reversing(
    site, roster, gate, people, scan
):
    """R6: idempotent; late evidence (a tablet that synced the handover later) reverses the
    accrual and writes it again — the ledger is never edited. A running shift waits."""
    scan(people["张伟"], at(3, 9, 0))
    scan(people["张伟"], at(3, 19, 0))
    assert accrue(site, 3, now=at(3, 21, 0)).written == []  # within the post-window
    assert len(accrue(site, 3).written) == 1
    assert accrue(site, 3).written == []
    assert accruals(people["张伟"]) == [("accrue_rest_day", 600, may(3))]
    handover(gate, at(3, 8, 0), incoming=people["张伟"])
    handover(gate, at(3, 20, 0), incoming=people["刘芳"], outgoing=people["张伟"])
    accrue(site, 3)
    assert accruals(people["张伟"]) == [("accrue_rest_day", 600, may(3)),
                                        ("reverse", -600, site.now().date()),
                                        ("accrue_rest_day", 720, may(3))]  # fmt: skip
    assert comptime.balance(people["张伟"], site) == 720
    assert accrue(site, 3).written == []


def test_r6_the_cli_accrues_a_day_once(runner, monkeypatch, site, roster, gate, people):
    monkeypatch.setattr(attendance, "utcnow", lambda: LATER)  # own date: shifts in 2031
    handover(gate, at(3, 8, 0), incoming=people["张伟"])
    handover(gate, at(3, 20, 0), incoming=people["刘芳"], outgoing=people["张伟"])
    first = runner.invoke(args=["comp-time", "accrue", "--day", f"{YEAR}-05-03"])
    assert first.exit_code == 0 and "1 accrual written" in first.output
    second = runner.invoke(args=["comp-time", "accrue", "--day", f"{YEAR}-05-03"])
    assert second.exit_code == 0 and "0 accruals written" in second.output
    assert runner.invoke(args=["comp-time", "accrue", "--day", "soon"]).exit_code != 0


# Comp time off (补休)


def earn(person, site, minutes, number, source):
    comptime.accrue(
        person, site=site, minutes=minutes, kind="accrue_rest_day", source_type="manual",
        source_id=source, earned_on=may(number), by=None,
    )  # fmt: skip
    db.session.commit()


def ask_comp_leave(site, person, first, last=None):
    asked, _created = roster_requests.create_request(
        site, by=person, op_id=new_op_id(), device_time=ASKED, received_at=ASKED,
        kind="comp_leave", reason="补休", first_day=may(first), last_day=may(last or first),
    )  # fmt: skip
    db.session.commit()
    return asked


def test_r6_comp_time_off_is_refused_when_the_balance_is_short(site, roster, people):
    """R6: the day shift of the 10th costs 12 h; 5 h available is refused, with the balance;
    days without a shift of one's own are refused too."""
    earn(people["张伟"], site, 300, 3, "a")
    with pytest.raises(DomainError) as short:
        ask_comp_leave(site, people["张伟"], 10)
    db.session.rollback()
    assert short.value.message == (
        f"Not enough comp time: 5 h available on {YEAR}-05-10, 12 h asked."
    )
    with pytest.raises(DomainError) as no_shift:
        ask_comp_leave(site, people["张伟"], 12, 13)
    db.session.rollback()
    assert "at least one of your shifts" in no_shift.value.message
    assert db.session.scalar(select(func.count()).select_from(CompLedger)) == 1


def test_r6_comp_time_off_is_approved_only_by_a_director_and_consumes_fifo(
    site, roster, people, supervisor, director
):
    """R6: "taking it needs the director's approval": a supervisor gets 403 with the reason;
    the director's approval takes the shift off and consumes its 12 h from the
    earliest-expiring lot first, the rest from the next (partial lots tracked)."""
    earn(people["张伟"], site, 600, 3, "a")
    earn(people["张伟"], site, 600, 4, "b")
    asked = ask_comp_leave(site, people["张伟"], 10)
    assert asked.kind == "comp_leave" and asked.entry_ids == [shift_of(people["张伟"], 10).id]
    with pytest.raises(DomainError) as supervisors:
        roster_requests.approve_request(asked, by=supervisor, now=DECIDED)
    db.session.rollback()
    assert supervisors.value.status == 403 and "director" in supervisors.value.message
    assert comptime.balance(people["张伟"], site) == 1200

    roster_requests.approve_request(asked, by=director, now=DECIDED)
    db.session.commit()
    assert asked.status == "approved" and shift_of(people["张伟"], 10).status != "planned"
    taken = db.session.scalar(select(CompLedger).where(CompLedger.kind == "consume"))
    assert (taken.delta_minutes, taken.earned_on, taken.source_type, taken.source_id) == (
        -720, may(10), "roster_request", asked.id)  # fmt: skip
    assert [(lot.entry.earned_on, lot.remaining) for lot in comptime.lots(people["张伟"], site)] \
        == [(may(4), 480)]  # fmt: skip
    # Approved comp time off is leave: nobody is rostered back into it (R4).
    assert any(leave.person == people["张伟"].id for leave in core.approved_leave(
        site, at(10, 0), at(11, 0)))  # fmt: skip


def test_r6_the_approval_checks_the_balance_again(site, roster, people, supervisor, director):
    earn(people["张伟"], site, 720, 3, "a")
    asked = ask_comp_leave(site, people["张伟"], 10)
    comptime.adjust(people["张伟"], site=site, minutes=-120, reason="更正", by=supervisor,
                    on=may(6))  # fmt: skip
    db.session.commit()
    with pytest.raises(DomainError) as short:
        roster_requests.approve_request(asked, by=director, now=DECIDED)
    db.session.rollback()
    assert short.value.message.startswith("Not enough comp time: 10 h available")
    assert asked.status == "pending" and shift_of(people["张伟"], 10).status == "planned"


def test_r6_the_form_shows_the_balance_and_a_supervisor_is_told_who_approves(
    client, login, site, roster, people, supervisor, director
):
    earn(people["张伟"], site, 750, 3, "a")
    login(people["张伟"])
    form = client.get(f"/s/{site.code}/roster/requests/new?kind=comp_leave")
    assert form.status_code == 200
    assert "Your comp time available today: 12 h 30 min." in form.get_data(as_text=True)
    asked = ask_comp_leave(site, people["张伟"], 10)
    client.post("/logout")
    login(supervisor)
    inbox = client.get(f"/s/{site.code}/roster/requests/inbox").get_data(as_text=True)
    assert "Comp time off is approved by a director." in inbox
    assert "Comp time off: 12 h taken from 张伟's balance, 12 h 30 min available" in inbox
    client.post("/logout")
    login(director)
    page = client.get(f"/s/{site.code}/roster/requests/inbox").get_data(as_text=True)
    assert "Approve and change the roster" in page and "approved by a director" not in page
    client.post("/logout")
    login(supervisor)
    refused = client.post(f"/s/{site.code}/roster/requests/{asked.id}/approve",
                          headers={"HX-Request": "true"})  # fmt: skip
    assert refused.status_code == 403
    assert "approved by a director" in refused.get_data(as_text=True)
