"""Comp time (补休, R6; design d-5, tests e-7 3–6): accruals once per source, FIFO over
partial lots, the expiry job run twice, reversals that give the balance back, a ledger
that cannot be updated or deleted, the balance as SUM(delta) under random operations, the
CLI job, and the page with who may see and change what."""

import html
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.models import AppendOnlyError, CompAllocation, CompLedger
from dutypwa.roster import comptime

JAN = date(2026, 1, 1)
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def _english(app):
    """The refusals' messages in English, outside a request too."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU")


@pytest.fixture
def person(make_user, site):
    return make_user("staff", sites=[site], name="王伟")


@pytest.fixture
def supervisor(make_user, site):
    return make_user("supervisor", sites=[site], name="李娜")


def earn(person, site, minutes, earned_on, source, kind="accrue_rest_day", by=None):
    return comptime.accrue(
        person, site=site, minutes=minutes, kind=kind, source_type="roster_entry",
        source_id=source, earned_on=earned_on, by=by,
    )  # fmt: skip


def take(person, site, minutes, on, source, by=None):
    return comptime.consume(
        person, site=site, minutes=minutes, on=on, source_type="leave_request",
        source_id=source, by=by,
    )  # fmt: skip


def remaining(person, site) -> dict[int, int]:
    return {lot.entry.id: lot.remaining for lot in comptime.lots(person, site)}


def rows(person, site) -> int:
    return db.session.scalar(
        select(func.count()).select_from(CompLedger).where(CompLedger.user_id == person.id)
    )


def set_setting(site, **values):
    site.settings = {**(site.settings or {}), **values}
    db.session.commit()


# --- accrual ---------------------------------------------------------------------------


def test_r6_a_lot_expires_after_the_sites_comp_expiry_days(site, person):
    lot = earn(person, site, 480, JAN, "e1")
    assert (lot.delta_minutes, lot.kind) == (480, "accrue_rest_day")
    assert lot.expires_on == date(2026, 1, 31)
    assert comptime.lots(person, site)[0].last_day == date(2026, 1, 30)
    set_setting(site, comp_expiry_days=10)
    assert earn(person, site, 60, JAN, "e2").expires_on == date(2026, 1, 11)
    set_setting(site, comp_expiry_days=0)
    assert earn(person, site, 60, JAN, "e3").expires_on is None


def test_r6_an_accrual_is_written_once_per_person_and_source(site, person, make_user):
    first = earn(person, site, 480, JAN, "e1")
    again = earn(person, site, 480, JAN, "e1")
    assert again.id == first.id and rows(person, site) == 1
    with pytest.raises(DomainError) as refused:
        earn(person, site, 300, JAN, "e1")  # other minutes for the same duty
    assert refused.value.status == 409 and "8 h was already recorded" in refused.value.message
    # Another kind, or another person on the same source, is another accrual.
    earn(person, site, 480, JAN, "e1", kind="accrue_statutory")
    colleague = make_user("staff", sites=[site])
    earn(colleague, site, 480, JAN, "e1")
    assert rows(person, site) == 2 and rows(colleague, site) == 1
    # Once reversed, the corrected accrual can be written.
    comptime.reverse(first, by=None, reason="attendance corrected")
    corrected = earn(person, site, 300, JAN, "e1")
    assert corrected.id != first.id
    assert comptime.balance(person, site) == 480 + 300


def test_r6_an_accrual_needs_a_member_positive_minutes_and_a_source(site, person, make_user):
    stranger = make_user("staff")
    with pytest.raises(DomainError, match="not a member"):
        earn(stranger, site, 60, JAN, "e1")
    for minutes in (0, -30, 1.5, True):
        with pytest.raises(DomainError, match="positive number of minutes"):
            earn(person, site, minutes, JAN, "e1")
    with pytest.raises(DomainError, match="needs its source"):
        earn(person, site, 60, JAN, "")
    with pytest.raises(ValueError):
        earn(person, site, 60, JAN, "e1", kind="consume")
    assert rows(person, site) == 0


# --- e-7 3: FIFO and the expiry job ------------------------------------------------------


def test_r6_fifo_takes_the_earliest_expiring_lot_first_and_tracks_partial_lots(site, person):
    later = earn(person, site, 240, date(2026, 1, 5), "late")  # usable before Feb 4
    earlier = earn(person, site, 120, date(2026, 1, 1), "early")  # usable before Jan 31
    first = take(person, site, 150, date(2026, 1, 10), "leave-1")
    assert remaining(person, site) == {later.id: 210}  # all of the early lot, 30 of the late
    allocations = db.session.scalars(
        select(CompAllocation).where(CompAllocation.consume_id == first.id)
        .order_by(CompAllocation.id)
    ).all()  # fmt: skip
    assert [(a.accrual_id, a.minutes) for a in allocations] == [(earlier.id, 120), (later.id, 30)]
    take(person, site, 60, date(2026, 1, 12), "leave-2")
    assert remaining(person, site) == {later.id: 150}
    assert comptime.balance(person, site) == 150 == comptime.ledger_sum(person, site)


def test_r6_time_off_draws_only_on_lots_still_usable_that_day(site, person):
    earn(person, site, 120, date(2026, 1, 1), "early")  # last day Jan 30
    later = earn(person, site, 60, date(2026, 1, 20), "late")
    with pytest.raises(DomainError) as refused:
        take(person, site, 90, date(2026, 2, 2), "leave-1")
    assert "1 h available on 2026-02-02, 1 h 30 min asked" in refused.value.message
    assert rows(person, site) == 2
    take(person, site, 60, date(2026, 2, 2), "leave-1")
    assert later.id not in remaining(person, site)


def test_r6_a_short_balance_is_refused_unless_the_site_allows_negative(site, person):
    earn(person, site, 60, JAN, "e1")
    with pytest.raises(DomainError, match="Not enough comp time"):
        take(person, site, 90, JAN, "leave-1")
    assert comptime.balance(person, site) == 60 and rows(person, site) == 1
    set_setting(site, comp_allow_negative=True)
    take(person, site, 90, JAN, "leave-1")
    assert comptime.balance(person, site) == -30 == comptime.ledger_sum(person, site)
    # The next accrual pays the debt first, so its lot shows what is really left.
    lot = earn(person, site, 120, date(2026, 1, 3), "e2")
    assert remaining(person, site) == {lot.id: 90}
    assert comptime.balance(person, site) == 90 == comptime.ledger_sum(person, site)


def test_r6_expiry_job_run_twice_writes_each_expiry_once(site, person, make_user):
    early = earn(person, site, 120, date(2026, 1, 1), "early")  # usable before Jan 31
    late = earn(person, site, 240, date(2026, 1, 20), "late")  # usable before Feb 19
    take(person, site, 90, date(2026, 1, 10), "leave-1")  # 90 of the early lot
    other = make_user("staff", sites=[site])
    earn(other, site, 60, date(2026, 1, 1), "x")
    assert comptime.expire(site, date(2026, 1, 30)) == 0  # the last usable day
    assert comptime.balance(person, site, today=date(2026, 1, 31)) == 240  # 30 about to go

    assert comptime.expire(site, date(2026, 1, 31)) == 2
    assert comptime.expire(site, date(2026, 1, 31)) == 0
    assert comptime.expire(site, date(2026, 2, 1)) == 0
    expiry = db.session.scalars(
        select(CompLedger).where(CompLedger.user_id == person.id, CompLedger.kind == "expire")
    ).one()
    assert (expiry.delta_minutes, expiry.earned_on, expiry.source_id) == (
        -30, date(2026, 1, 31), str(early.id)
    )  # fmt: skip
    assert expiry.created_by_id is None
    assert remaining(person, site) == {late.id: 240}
    assert comptime.balance(person, site) == 240 == comptime.ledger_sum(person, site)
    assert comptime.balance(other, site) == 0
    assert comptime.expire(site, date(2026, 2, 19)) == 1
    assert comptime.balance(person, site) == 0


def test_r6_a_site_whose_comp_time_never_expires_writes_no_expiry(site, person):
    set_setting(site, comp_expiry_days=0)
    earn(person, site, 120, JAN, "e1")
    assert comptime.expire(site, date(2030, 1, 1)) == 0
    assert comptime.balance(person, site, today=date(2030, 1, 1)) == 120


# --- e-7 4: reversals ----------------------------------------------------------------------


def test_r6_cancelling_approved_leave_reverses_it_and_the_balance_returns(site, person, supervisor):
    early = earn(person, site, 120, date(2026, 1, 1), "early")
    late = earn(person, site, 240, date(2026, 1, 5), "late")
    before = (comptime.balance(person, site), remaining(person, site))
    leave = take(person, site, 150, date(2026, 1, 10), "leave-1", by=supervisor)
    assert comptime.balance(person, site) == 210

    reversal = comptime.reverse(leave, by=supervisor, reason="leave cancelled")
    assert (reversal.kind, reversal.delta_minutes) == ("reverse", 150)
    assert reversal.reverses_id == leave.id
    assert (reversal.source_type, reversal.source_id) == ("leave_request", "leave-1")
    assert (comptime.balance(person, site), remaining(person, site)) == before
    assert remaining(person, site) == {early.id: 120, late.id: 240}
    # The leave row is still there, unchanged, and marked reversed on the statement.
    statement = comptime.statement(person, site)
    assert [(r.entry.kind, r.balance) for r in statement] == [
        ("accrue_rest_day", 120), ("accrue_rest_day", 360), ("consume", 210), ("reverse", 360),
    ]  # fmt: skip
    assert statement[2].reversed_by.id == reversal.id
    # Approved again: a new consumption for the same request.
    again = take(person, site, 150, date(2026, 1, 10), "leave-1")
    assert again.id != leave.id and comptime.balance(person, site) == 210


def test_r6_a_reversal_is_refused_twice_for_reversals_and_for_expiries(site, person):
    lot = earn(person, site, 120, date(2026, 1, 1), "e1")
    leave = take(person, site, 30, date(2026, 1, 2), "leave-1")
    reversal = comptime.reverse(leave, by=None, reason="cancelled")
    with pytest.raises(DomainError, match="reversed already") as twice:
        comptime.reverse(leave, by=None, reason="again")
    assert twice.value.status == 409
    with pytest.raises(DomainError, match="cannot be reversed"):
        comptime.reverse(reversal, by=None, reason="undo")
    with pytest.raises(DomainError, match="reason"):
        comptime.reverse(lot, by=None, reason=" ")
    comptime.expire(site, date(2026, 2, 1))
    expiry = db.session.scalars(select(CompLedger).where(CompLedger.kind == "expire")).one()
    with pytest.raises(DomainError, match="make an adjustment"):
        comptime.reverse(expiry, by=None, reason="too early")
    assert rows(person, site) == 4


def test_r6_an_accrual_already_taken_cannot_be_reversed_but_an_unused_one_can(site, person):
    used = earn(person, site, 120, date(2026, 1, 1), "e1")
    unused = earn(person, site, 60, date(2026, 1, 20), "e2")
    leave = take(person, site, 30, date(2026, 1, 2), "leave-1")
    with pytest.raises(DomainError, match="30 min of this has been taken") as refused:
        comptime.reverse(used, by=None, reason="attendance corrected")
    assert refused.value.status == 409
    comptime.reverse(unused, by=None, reason="did not work that day")
    assert comptime.balance(person, site) == 90 and unused.id not in remaining(person, site)
    # Reverse the leave first, then the accrual.
    comptime.reverse(leave, by=None, reason="leave cancelled")
    comptime.reverse(used, by=None, reason="attendance corrected")
    assert comptime.balance(person, site) == 0 == comptime.ledger_sum(person, site)


def test_r6_reversing_a_leave_pays_what_another_still_owes(site, person):
    set_setting(site, comp_allow_negative=True)
    lot = earn(person, site, 60, JAN, "e1")
    first = take(person, site, 60, JAN, "leave-1")
    take(person, site, 40, JAN, "leave-2")  # owed: nothing left to draw on
    comptime.reverse(first, by=None, reason="cancelled")
    assert remaining(person, site) == {lot.id: 20}
    assert comptime.balance(person, site) == 20 == comptime.ledger_sum(person, site)


# --- adjustments ---------------------------------------------------------------------------


def test_r6_a_manager_adjusts_with_a_reason_but_never_their_own_balance(site, person, supervisor):
    added = comptime.adjust(person, site=site, minutes=90, reason="missed accrual", by=supervisor,
                            on=JAN)  # fmt: skip
    assert (added.kind, added.source_type) == ("adjust", "manual")
    assert added.expires_on == date(2026, 1, 31)
    comptime.adjust(person, site=site, minutes=-30, reason="double count", by=supervisor, on=JAN)
    assert remaining(person, site) == {added.id: 60}
    with pytest.raises(DomainError, match="Not enough"):
        comptime.adjust(person, site=site, minutes=-90, reason="x", by=supervisor, on=JAN)
    with pytest.raises(DomainError, match="reason"):
        comptime.adjust(person, site=site, minutes=30, reason="", by=supervisor)
    with pytest.raises(DomainError) as own:
        comptime.adjust(supervisor, site=site, minutes=30, reason="mine", by=supervisor)
    assert own.value.status == 403
    assert comptime.balance(person, site) == 60 and rows(supervisor, site) == 0


def test_durations_read_as_hours_and_minutes():
    assert comptime.format_minutes(450) == "7 h 30 min"
    assert comptime.format_minutes(480) == "8 h"
    assert comptime.format_minutes(45) == "45 min"
    assert comptime.format_minutes(0) == "0 min"
    assert comptime.format_minutes(-90) == "−1 h 30 min"
    assert comptime.format_minutes(90, sign=True) == "+1 h 30 min"


# --- e-7 5: no update or delete ------------------------------------------------------------


def test_r6_the_orm_refuses_to_update_or_delete_ledger_rows(site, person):
    lot = earn(person, site, 120, JAN, "e1")
    leave = take(person, site, 30, JAN, "leave-1")
    db.session.commit()
    allocation = db.session.scalars(select(CompAllocation)).one()

    lot.delta_minutes = 999
    with pytest.raises(AppendOnlyError, match="delta_minutes"):
        db.session.flush()
    db.session.rollback()
    for row in (leave, allocation):
        db.session.delete(row)
        with pytest.raises(AppendOnlyError):
            db.session.flush()
        db.session.rollback()
    allocation.minutes = 1
    with pytest.raises(AppendOnlyError):
        db.session.flush()
    db.session.rollback()
    for statement in (
        update(CompLedger).values(note="x"),
        delete(CompLedger).where(CompLedger.id == lot.id),
        update(CompAllocation).values(minutes=1),
    ):
        with pytest.raises(AppendOnlyError):
            db.session.execute(statement)
        db.session.rollback()
    assert comptime.balance(person, site) == 90 and rows(person, site) == 2


def test_r6_the_database_refuses_an_update_and_on_postgresql_a_delete(site, person):
    """The triggers, for SQL that goes around the ORM. SQLite's DELETE is left to the ORM
    (the test databases are emptied with DELETE); PostgreSQL refuses it too."""
    lot = earn(person, site, 120, JAN, "e1")
    take(person, site, 30, JAN, "leave-1")
    db.session.commit()
    connection = db.session.connection()
    statements = ["UPDATE comp_ledger SET note = 'x'", "UPDATE comp_allocation SET minutes = 1"]
    if connection.dialect.name == "postgresql":
        statements += ["DELETE FROM comp_ledger", "DELETE FROM comp_allocation"]
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), db.session.begin_nested():
            db.session.execute(text(statement))
    db.session.rollback()
    assert db.session.get(CompLedger, lot.id).note == ""
    assert comptime.balance(person, site) == 90


# --- e-7 6: the balance under random operations ----------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("accrue"), st.integers(1, 600), st.integers(0, 60)),
        st.tuples(st.just("consume"), st.integers(1, 600), st.integers(0, 60)),
        st.tuples(st.just("adjust"), st.integers(-300, 300).filter(bool), st.integers(0, 60)),
        st.tuples(st.just("reverse"), st.integers(0, 3), st.integers(0, 60)),  # a recent row
        st.tuples(st.just("expire"), st.just(0), st.integers(0, 60)),
    ),
    max_size=14,
)


# Each example makes its own site and people, so the function-scoped fixtures are safe here.
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=operations, allow_negative=st.booleans())
def test_r6_the_balance_is_the_sum_of_the_ledger_and_never_negative_unless_allowed(
    make_site, make_user, operations, allow_negative
):
    site = make_site()
    set_setting(site, comp_allow_negative=allow_negative, comp_expiry_days=20)
    person = make_user("staff", sites=[site])
    manager = make_user("supervisor", sites=[site])
    for number, (operation, amount, day_offset) in enumerate(operations):
        day = JAN + timedelta(days=day_offset)
        try:
            if operation == "accrue":
                earn(person, site, amount, day, f"e{number}")
            elif operation == "consume":
                take(person, site, amount, day, f"l{number}")
            elif operation == "adjust":
                comptime.adjust(person, site=site, minutes=amount, reason="r", by=manager, on=day)
            elif operation == "reverse":
                entries = comptime.statement(person, site)
                if entries:
                    target = entries[-1 - amount % len(entries)].entry
                    comptime.reverse(target, by=manager, reason="r")
            else:
                comptime.expire(site, day)
        except DomainError:
            pass  # refused: nothing was written
        total = comptime.ledger_sum(person, site)
        assert comptime.balance(person, site) == total
        assert sum(r.entry.delta_minutes for r in comptime.statement(person, site)) == total
        if not allow_negative:
            assert total >= 0
            assert all(lot.remaining >= 0 for lot in comptime.lots(person, site))
    # Once everything due has been written off, what can be taken is the whole balance.
    comptime.expire(site, JAN + timedelta(days=200))
    assert comptime.balance(person, site, today=JAN + timedelta(days=200)) == (
        comptime.ledger_sum(person, site)
    )
    db.session.commit()


# --- the nightly job -------------------------------------------------------------------------


def test_r6_the_cli_expires_every_site_and_a_second_run_writes_nothing(runner, site, person):
    earn(person, site, 120, JAN, "e1")
    db.session.commit()
    first = runner.invoke(args=["comp-time", "expire", "--today", "2026-02-01"])
    assert first.exit_code == 0 and "1 expiry written" in first.output
    second = runner.invoke(args=["comp-time", "expire", "--today", "2026-02-01"])
    assert second.exit_code == 0 and "0 expiries written" in second.output
    assert comptime.balance(person, site) == 0
    bad = runner.invoke(args=["comp-time", "expire", "--today", "soon"])
    assert bad.exit_code != 0


# --- the page ------------------------------------------------------------------------------


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_r6_staff_see_their_own_balance_lots_and_statement(
    client, login, site, person, supervisor, make_user
):
    today = site.now().date()
    earn(person, site, 450, today - timedelta(days=2), "e1", by=supervisor)
    take(person, site, 60, today, "leave-1", by=supervisor)
    colleague = make_user("staff", sites=[site], name="赵强")
    earn(colleague, site, 999, today, "e9")
    db.session.commit()
    login(person)
    page = text_of(client.get("/s/CUIHU/comp-time"))
    assert "6 h 30 min" in page  # the balance
    last_day = (today - timedelta(days=2) + timedelta(days=29)).isoformat()
    assert f"use by {last_day}" in page and "of 7 h 30 min" in page
    assert "Time off taken" in page and "−1 h" in page and "Rest-day duty" in page
    assert "赵强" not in page and "16 h 39 min" not in page
    assert "Everyone at this site" not in page
    assert 'href="/s/CUIHU/comp-time"' in page  # under "More" in the top bar
    assert client.get(f"/s/CUIHU/comp-time/people/{person.id}").status_code == 403


def test_r6_managers_see_everyones_balance_and_a_persons_statement(
    client, login, site, person, supervisor, make_user
):
    today = site.now().date()
    earn(person, site, 480, today, "e1")
    make_user("staff", sites=[site], name="赵强")
    make_user("staff", name="外人")  # another site's
    db.session.commit()
    login(supervisor)
    page = text_of(client.get("/s/CUIHU/comp-time"))
    team = page.split('id="comp-team"')[1].split("</section>")[0]
    assert "王伟" in team and "8 h" in team and "赵强" in team and "0 min" in team
    assert "外人" not in team
    assert f'href="/s/CUIHU/comp-time/people/{person.id}"' in team
    detail = text_of(client.get(f"/s/CUIHU/comp-time/people/{person.id}"))
    assert "王伟" in detail and "Adjust the balance" in detail and 'name="csrf_token"' in detail
    own = text_of(client.get(f"/s/CUIHU/comp-time/people/{supervisor.id}"))
    assert "Another manager records changes" in own and "Adjust the balance" not in own


def test_r6_an_adjustment_from_the_page_answers_htmx_with_the_new_balance(
    client, login, site, person, supervisor
):
    login(supervisor)
    url = f"/s/CUIHU/comp-time/people/{person.id}/adjust"
    form = {"direction": "add", "hours": "2", "minutes": "30", "reason": "missed accrual"}
    response = client.post(url, data=form, headers=HTMX)
    assert response.status_code == 200
    fragment = text_of(response)
    assert fragment.lstrip().startswith('<section id="comp-person"') and "<html" not in fragment
    assert "Adjustment saved: +2 h 30 min." in fragment and "missed accrual" in fragment
    deduct = {"direction": "deduct", "hours": "1", "minutes": "0", "reason": "double count"}
    plain = client.post(url, data=deduct)
    assert plain.status_code == 303 and plain.location.endswith(f"/comp-time/people/{person.id}")
    assert comptime.balance(person, site) == 90
    entries = comptime.statement(person, site)
    assert [(r.entry.kind, r.entry.created_by_id, r.entry.note) for r in entries] == [
        ("adjust", supervisor.id, "missed accrual"), ("adjust", supervisor.id, "double count"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"direction": "add", "hours": "0", "minutes": "0", "reason": "x"},
         "Give the time to add or deduct."),
        ({"direction": "add", "hours": "1", "minutes": "", "reason": ""},
         "Give the reason for the adjustment."),
        ({"direction": "add", "hours": "-1", "minutes": "0", "reason": "x"},
         "Hours: give a whole number from 0 to 200."),
        ({"direction": "add", "hours": "201", "minutes": "0", "reason": "x"},
         "Hours: give a whole number from 0 to 200."),
        ({"direction": "add", "hours": "1", "minutes": "60", "reason": "x"},
         "Minutes: give a whole number from 0 to 59."),
        ({"direction": "sideways", "hours": "1", "minutes": "0", "reason": "x"},
         "Choose whether to add or deduct."),
        ({"direction": "add", "hours": "1", "minutes": "0", "reason": "x" * 501},
         "At most 500 characters."),
        ({"direction": "deduct", "hours": "1", "minutes": "0", "reason": "x"},
         "Not enough comp time: 0 min available"),
    ],
)  # fmt: skip
def test_r6_bad_adjustments_are_refused_with_422_and_nothing_written(
    client, login, site, person, supervisor, form, message
):
    login(supervisor)
    response = client.post(f"/s/CUIHU/comp-time/people/{person.id}/adjust", data=form,
                           headers=HTMX)  # fmt: skip
    assert response.status_code == 422
    fragment = text_of(response)
    assert message in fragment and "nothing was saved" in fragment
    assert fragment.lstrip().startswith('<section id="comp-person"')
    assert '<details class="card comp-adjust" open' in fragment
    assert rows(person, site) == 0


def test_r6_adjustments_stay_inside_the_managers_sites(
    client, login, site, person, supervisor, make_site, make_user
):
    other = make_site(code="OTHER")
    outsider = make_user("staff", sites=[other])
    login(supervisor)
    form = {"direction": "add", "hours": "1", "minutes": "0", "reason": "x"}
    for site_code, status in (("CUIHU", 404), ("OTHER", 403)):
        url = f"/s/{site_code}/comp-time/people/{outsider.id}"
        assert client.get(url).status_code == status
        assert client.post(f"{url}/adjust", data=form).status_code == status
    own = client.post(f"/s/CUIHU/comp-time/people/{supervisor.id}/adjust", data=form)
    assert own.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(CompLedger)) == 0
