"""When a handover happened, and how late the relief was (issue 11 §1.4, H1, H11), with the
clock frozen. A handover done at 00:29–00:31 once showed as "上次交接班 12-07 20:00 · 刘芳 →
陈杰 迟到 274 分钟": the lists showed the shift's start instead of when it happened, and the
relief was measured against the nearest shift change (20:00, which the night person had
already taken over) instead of the shift they were rostered or due for."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from dutypwa.extensions import db
from dutypwa.handover import arrive, record_step
from dutypwa.models import PostDuty, RosterEntry, RosterMonth, ShiftTemplate
from tests.clock import base_day_at
from tests.conftest import new_op_id
from tests.handover.conftest import SIGNATURE

# 00:29 on the base day in Shanghai: the night shift began at 20:00 the evening before.
NIGHT_START = base_day_at(20, days=-1)
DAY_START = base_day_at(8)


@pytest.fixture(autouse=True)
def _english(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


def hold(post, person, since, until):
    duty = db.session.get(PostDuty, post.id) or PostDuty(post_id=post.id, site_id=post.site_id)
    duty.person_id, duty.since, duty.due_until = person.id, since, until
    db.session.add(duty)
    db.session.commit()


def check_in(post, person, at):
    handover, _created = arrive(
        post, by=person, op_id=new_op_id(), device_time=at, received_at=at, clock_offset_s=0.0
    )
    db.session.commit()
    return handover


def step(handover, person, action, at, **fields):
    record_step(handover, by=person, op_id=new_op_id(), action=action, fields=fields,
                device_time=at, received_at=at, clock_offset_s=0.0)  # fmt: skip
    db.session.commit()


def hand_over(handover, incoming, outgoing, start):
    """The steps one minute apart from `start`, both signatures last."""
    counts = {f"count-{i}": str(item["count"]) for i, item in enumerate(handover.post.inventory)}
    at = start
    for person, action, fields in [
        (incoming, "inventory", counts),
        (incoming, "log_review", {}),
        (incoming, "area_check", {}),
        (outgoing, "summary", {"summary": "夜班平安"}),
        (incoming, "sign_incoming", {"signature": SIGNATURE}),
        (outgoing, "sign_outgoing", {"signature": SIGNATURE}),
    ]:
        at += timedelta(seconds=20)
        step(handover, person, action, at, **fields)
    return at


def rostered(site, post, person, code, start, end):
    """A published roster entry for `person` at `post`."""
    month = RosterMonth(site=site, month=start.astimezone(site.tz).strftime("%Y-%m"),
                        status="published")  # fmt: skip
    template = ShiftTemplate(site=site, code=code, name=code, segments=[[0, 1]])
    db.session.add_all([month, template])
    db.session.flush()
    db.session.add(
        RosterEntry(
            id=new_op_id(),
            month_id=month.id,
            site_id=site.id,
            user_id=person.id,
            post_id=post.id,
            template_id=template.id,
            duty_date=start.astimezone(site.tz).date(),
            start_at=start,
            end_at=end,
            segments=[[start.isoformat(), end.isoformat()]],
        )
    )
    db.session.commit()


def visible(html: str) -> str:
    """The text a person reads: no tags, runs of white space as one space."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace(" ·", "·").replace("· ", "·")


def local(site, moment: datetime, pattern="%m-%d %H:%M") -> str:
    return moment.astimezone(site.tz).strftime(pattern)


def test_h1_h11_a_relief_at_0029_is_early_for_0800_and_the_lists_show_0031(
    frozen_clock, client, login, site, post, night, day, supervisor
):
    """The issue's case: the night person has held the post since 20:00 and is due to be
    relieved at 08:00; a relief (not on the roster) checks in at 00:29 and the handover is
    signed at 00:31. The relief is early for 08:00, not 274 minutes late for 20:00, and the
    coverage page, the handover list and the record say 00:29–00:31."""
    arrived = base_day_at(0, 29)
    frozen_clock.move_to(arrived)
    hold(post, night, NIGHT_START, DAY_START)
    handover = check_in(post, day, arrived)
    assert handover.shift_start == DAY_START
    assert (handover.on_time, handover.late_minutes) == (True, 0)
    signed = hand_over(handover, day, night, arrived + timedelta(seconds=40))
    frozen_clock.move_to(signed)
    assert handover.status == "signed" and handover.handed_over_at == signed
    duty = db.session.get(PostDuty, post.id)
    assert (duty.person_id, duty.since) == (day.id, signed)
    assert duty.due_until == base_day_at(20)  # the 08:00 shift he came for ends at 20:00

    login(supervisor)
    coverage = client.get(f"/s/{site.code}/coverage").get_data(as_text=True)
    last = visible(coverage.split('class="last-handover')[1].split("</div>")[0])
    assert f"{local(site, signed)}·刘芳 → 张伟" in last, last
    assert "On time" in last and "Late" not in last
    assert local(site, NIGHT_START) not in last
    listing = visible(client.get(f"/s/{site.code}/handovers").get_data(as_text=True))
    assert f"{local(site, signed)}·刘芳 → 张伟" in listing, listing
    record = visible(client.get(f"/s/{site.code}/handovers/{handover.id}").text)
    assert local(site, arrived) in record  # arrived
    times = record.split("Who did what, when")[1]
    for moment in (arrived, arrived + timedelta(minutes=1), signed):
        assert local(site, moment) in times
    assert "On time" in record and "Late" not in record


def test_h10_h11_an_overdue_relief_is_late_against_the_change_they_were_due_for(
    frozen_clock, post, night, day
):
    """No roster: the person on duty was due to be relieved at 08:00; the relief checks in
    at 14:10 (nearer 20:00 than 08:00): late against 07:55, not early for 20:00."""
    arrived = base_day_at(14, 10)
    frozen_clock.move_to(arrived)
    hold(post, night, NIGHT_START, DAY_START)
    handover = check_in(post, day, arrived)
    assert handover.shift_start == DAY_START
    assert (handover.on_time, handover.late_minutes) == (False, 6 * 60 + 15)


def test_h11_lateness_is_measured_against_the_shift_the_relief_was_rostered_for(
    frozen_clock, site, post, night, day
):
    """The published roster has the relief on a 09:00–21:00 shift at this post (not one of
    the post's shift changes); the person on duty was due at 08:00. Checking in at 09:20
    is 25 minutes late against 09:00 (08:55), not 85 against 08:00."""
    rostered(site, post, day, "D9", base_day_at(9), base_day_at(21))
    arrived = base_day_at(9, 20)
    frozen_clock.move_to(arrived)
    hold(post, night, NIGHT_START, DAY_START)
    handover = check_in(post, day, arrived)
    assert handover.shift_start == base_day_at(9)
    assert (handover.on_time, handover.late_minutes) == (False, 25)


def test_h1_a_relief_rostered_for_2200_who_comes_at_2150_is_on_time(
    frozen_clock, site, post, night, day
):
    """The person on duty is due at 20:00, but the relief is rostered from 22:00: at 21:50
    they are on time for their own shift."""
    rostered(site, post, night, "夜", base_day_at(22), base_day_at(6, days=1))
    arrived = base_day_at(21, 50)
    frozen_clock.move_to(arrived)
    hold(post, day, DAY_START, base_day_at(20))
    handover = check_in(post, night, arrived)
    assert handover.shift_start == base_day_at(22)
    assert (handover.on_time, handover.late_minutes) == (True, 0)


def test_h11_an_unpublished_or_other_posts_roster_does_not_count(
    frozen_clock, site, post, night, day, make_post
):
    elsewhere = make_post(site, name="正门岗")
    rostered(site, elsewhere, day, "D", base_day_at(9), base_day_at(21))
    arrived = base_day_at(8, 20)
    frozen_clock.move_to(arrived)
    hold(post, night, NIGHT_START, DAY_START)
    handover = check_in(post, day, arrived)
    assert handover.shift_start == DAY_START  # the change he was due for, not 09:00
    assert handover.late_minutes == 25


def test_h11_with_nobody_on_duty_and_no_roster_the_nearest_shift_change(frozen_clock, post, day):
    arrived = base_day_at(8, 10)
    frozen_clock.move_to(arrived)
    handover = check_in(post, day, arrived)
    assert handover.shift_start == DAY_START and handover.late_minutes == 15
    assert handover.arrived_at == arrived.astimezone(UTC)
