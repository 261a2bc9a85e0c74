"""The handover applied to the database: PIN lockout, arrival (H1, H11), the count (H2),
the log review (H3, H12), the block and override (H9), the signatures (H5, H8), and the
post's state afterwards (H10)."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from dutypwa.dutylog.entries import record_entry
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.handover import (
    PIN_TRIES,
    arrive,
    check_pin,
    enrol_station,
    record_step,
    relief_overdue,
    station_for,
)
from dutypwa.models import DutyEntry, Finding, HandoverEvent, PostDuty
from tests.clock import base_day_at
from tests.conftest import new_op_id
from tests.handover.conftest import on_duty as hold

# The day shift on the base day (DUTYPWA_TEST_TODAY): 08:00 in Shanghai.
DAY_START = base_day_at(8)
SIGNATURE = "M 10 10 L 40 30 L 80 12"


@pytest.fixture(autouse=True)
def _at_the_day_shift(frozen_clock):
    """The server's clock at 08:00 on the base day, where the handovers happen."""
    frozen_clock.move_to(DAY_START)


@pytest.fixture(autouse=True)
def _english(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


def on_duty(post, person, until=DAY_START):
    hold(post, person, until)


def step(handover, person, action, at=DAY_START, **fields):
    event, _created = record_step(
        handover,
        by=person,
        op_id=new_op_id(),
        action=action,
        fields=fields,
        device_time=at,
        received_at=at,
    )
    db.session.commit()
    return event


COUNT_OK = {"count-0": "2", "count-1": "3"}


def test_pin_lockout_holds_in_the_database(night):
    now = DAY_START
    check_pin(night, "1234", now)
    for tries_left in range(PIN_TRIES - 1, 0, -1):
        with pytest.raises(DomainError, match=f"{tries_left} tries left") as wrong:
            check_pin(night, "0000", now)
        assert wrong.value.status == 403
        db.session.commit()
    with pytest.raises(DomainError, match="try again in 10 minutes") as locked:
        check_pin(night, "0000", now)
    assert locked.value.status == 429
    db.session.commit()
    db.session.expire_all()
    # The right PIN is refused too while locked, as another worker would see it.
    with pytest.raises(DomainError, match="try again in 5 minutes"):
        check_pin(night, "1234", now + timedelta(minutes=5, seconds=30))
    check_pin(night, "1234", now + timedelta(minutes=11))
    assert night.pin_failures == 0


def test_a_station_is_known_by_its_credential_only(post, supervisor):
    station, token = enrol_station(post, by=supervisor, name="服务中心平板")
    db.session.commit()
    assert station_for(token).id == station.id
    assert station_for(token + "x") is None and station_for(None) is None
    assert token not in station.token_hash
    station.revoked_at = DAY_START
    db.session.commit()
    assert station_for(token) is None


@pytest.mark.parametrize(
    ("arrived", "on_time", "late"),
    [(DAY_START - timedelta(minutes=10), True, 0), (DAY_START + timedelta(minutes=20), False, 25)],
)
def test_h1_arrival_on_time_and_h11_lateness(post, night, day, arrived, on_time, late):
    on_duty(post, night)
    handover, created = arrive(
        post, by=day, op_id=new_op_id(), device_time=arrived, received_at=arrived
    )
    assert created and handover.outgoing_id == night.id and handover.shift_start == DAY_START
    assert (handover.on_time, handover.late_minutes) == (on_time, late)


def test_the_person_on_duty_cannot_relieve_themself(post, night):
    on_duty(post, night)
    with pytest.raises(DomainError, match="your relief checks in"):
        arrive(post, by=night, op_id=new_op_id(), device_time=DAY_START)


def test_h2_a_discrepancy_needs_an_explanation_and_becomes_a_nonconformity(post, night, day):
    on_duty(post, night)
    handover, _ = arrive(post, by=day, op_id=new_op_id(), device_time=DAY_START)
    db.session.commit()
    with pytest.raises(DomainError, match="the outgoing person explains"):
        step(handover, day, "inventory", **{"count-0": "1", "count-1": "3"})
    assert db.session.scalars(select(Finding)).all() == []
    step(handover, day, "inventory", **{"count-0": "1", "count-1": "3",
                                         "explanation-0": "借给保安巡逻，未归还"})  # fmt: skip
    [finding] = db.session.scalars(select(Finding)).all()
    assert finding.source == "handover" and "手电筒 1 of 2" in finding.description
    assert "借给保安巡逻" in finding.description
    assert handover.inventory[0]["discrepancy"] and not handover.inventory[1]["discrepancy"]


def test_h3_h12_each_open_item_is_carried_over_by_name_or_completed(post, site, night, day):
    on_duty(post, night)
    repair, _ = record_entry(site, by=night, op_id=new_op_id(), device_time=DAY_START,
                             kind="repair", summary="3-2-701 水管漏水", post=post)  # fmt: skip
    inquiry, _ = record_entry(site, by=night, op_id=new_op_id(), device_time=DAY_START,
                              kind="inquiry", summary="快递柜位置", post=post)  # fmt: skip
    handover, _ = arrive(post, by=day, op_id=new_op_id(), device_time=DAY_START)
    step(handover, day, "inventory", **COUNT_OK)
    with pytest.raises(DomainError, match="carried over or completed"):
        step(handover, day, "log_review", **{f"entry-{repair.id}": "carried"})
    step(handover, day, "log_review",
         **{f"entry-{repair.id}": "carried", f"entry-{inquiry.id}": "completed"})  # fmt: skip
    assert handover.carried == [{"entry": repair.id, "title": "3-2-701 水管漏水"}]
    assert db.session.get(DutyEntry, inquiry.id).status == "closed"
    assert db.session.get(DutyEntry, repair.id).status == "open"


def complete_until_signatures(handover, night, day):
    step(handover, day, "inventory", **COUNT_OK)
    step(handover, day, "log_review", **{
        f"entry-{entry.id}": "carried" for entry in db.session.scalars(
            select(DutyEntry).where(DutyEntry.status == "open", DutyEntry.kind != "emergency")
        )
    })  # fmt: skip
    step(handover, day, "area_check")
    step(handover, night, "summary", summary="夜班平稳，一项报修待跟进")


def test_h5_h8_both_sign_the_relief_first_and_then_the_post_is_theirs(post, night, day):
    on_duty(post, night)
    handover, _ = arrive(post, by=day, op_id=new_op_id(), device_time=DAY_START)
    complete_until_signatures(handover, night, day)
    with pytest.raises(DomainError, match="relief signs first"):
        step(handover, night, "sign_outgoing", signature=SIGNATURE)
    with pytest.raises(DomainError, match="Only the incoming person") as wrong:
        step(handover, night, "sign_incoming", signature=SIGNATURE)
    assert wrong.value.status == 403
    with pytest.raises(DomainError, match="Sign in the box"):
        step(handover, day, "sign_incoming", signature="")
    step(handover, day, "sign_incoming", signature=SIGNATURE)
    assert handover.status == "open"
    assert db.session.get(PostDuty, post.id).person_id == night.id
    step(handover, night, "sign_outgoing", signature=SIGNATURE + " L 90 20")
    assert handover.status == "signed"
    duty = db.session.get(PostDuty, post.id)
    assert duty.person_id == day.id and duty.due_until == DAY_START + timedelta(hours=12)


def test_h9_important_open_work_blocks_until_a_supervisor_overrides(
    post, site, night, day, supervisor
):
    on_duty(post, night)
    record_entry(site, by=night, op_id=new_op_id(), device_time=DAY_START,
                 kind="emergency", summary="B2 配电房冒烟", post=post)  # fmt: skip
    handover, _ = arrive(post, by=day, op_id=new_op_id(), device_time=DAY_START)
    step(handover, day, "inventory", **COUNT_OK)
    emergency = db.session.scalar(select(DutyEntry).where(DutyEntry.kind == "emergency"))
    step(handover, day, "log_review", **{f"entry-{emergency.id}": "carried"})
    step(handover, day, "area_check")
    step(handover, night, "summary", summary="冒烟已报工程部，正在处理")
    with pytest.raises(DomainError, match="Important work is not finished"):
        step(handover, day, "sign_incoming", signature=SIGNATURE)
    with pytest.raises(DomainError, match="Only a supervisor"):
        step(handover, night, "override", reason="我来")
    with pytest.raises(DomainError, match="reason"):
        step(handover, supervisor, "override")
    step(handover, supervisor, "override", reason="工程部已到场接手，夜班可下班")
    assert handover.override_by_id == supervisor.id
    step(handover, day, "sign_incoming", signature=SIGNATURE)
    step(handover, night, "sign_outgoing", signature=SIGNATURE)
    assert handover.status == "signed"


def test_h10_relief_overdue_once_the_shift_ended_without_a_signed_handover(post, night):
    on_duty(post, night, until=DAY_START)
    duty = db.session.get(PostDuty, post.id)
    assert not relief_overdue(duty, DAY_START - timedelta(minutes=1))
    assert relief_overdue(duty, DAY_START + timedelta(minutes=1))
    assert not relief_overdue(None, DAY_START)


def test_a_step_is_recorded_once(post, night, day):
    on_duty(post, night)
    handover, _ = arrive(post, by=day, op_id=new_op_id(), device_time=DAY_START)
    op_id = new_op_id()
    for _ in range(2):
        record_step(handover, by=day, op_id=op_id, action="inventory", fields=COUNT_OK,
                    device_time=DAY_START)  # fmt: skip
    db.session.commit()
    assert len(db.session.scalars(select(HandoverEvent)).all()) == 1
    with pytest.raises(DomainError) as conflict:
        record_step(handover, by=day, op_id=op_id, action="inventory",
                    fields={"count-0": "2", "count-1": "2", "explanation-1": "x"},
                    device_time=DAY_START)  # fmt: skip
    assert conflict.value.status == 409
