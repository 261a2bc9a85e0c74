"""The demo starts consistent (issue 11 §1.4), whatever the hour it is loaded: the person on
duty at the service centre got the post from the last handover there, at the moment that
handover was signed; every demo handover's times are those of its steps; and the published
roster has each person of those handovers on the shift they took over (H1, H10, H11)."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from dutypwa.demo import load_demo
from dutypwa.extensions import db
from dutypwa.models import Handover, Post, PostDuty, RosterEntry, RosterMonth
from tests.clock import base_day_at


@pytest.mark.parametrize("hours, minutes", [(0, 29), (7, 50), (14, 0), (21, 30)])
def test_h10_h11_the_demo_post_the_last_handover_and_the_roster_agree(
    app, frozen_clock, hours, minutes
):
    now = base_day_at(hours, minutes)
    frozen_clock.move_to(now)
    with app.test_request_context():
        load_demo(now)
        db.session.commit()
    post = db.session.scalar(select(Post).where(Post.name == "客户服务中心"))
    duty = db.session.get(PostDuty, post.id)
    morning, evening = db.session.scalars(
        select(Handover).where(Handover.post_id == post.id).order_by(Handover.arrived_at)
    ).all()

    # The post is the last handover's relief's, from when that handover was signed.
    assert duty.handover_id == evening.id and duty.person_id == evening.incoming_id
    assert duty.since == evening.handed_over_at == evening.outgoing_signed_at <= now
    assert evening.outgoing_id == morning.incoming_id
    assert [h.incoming.display_name for h in (morning, evening)] == ["张伟", "刘芳"]
    assert morning.outgoing.display_name == "陈杰"
    # Each handover's times are its steps', never the shift's start.
    for handover in (morning, evening):
        events = handover.events
        assert handover.arrived_at < events[0].device_time
        assert [e.device_time for e in events] == sorted(e.device_time for e in events)
        assert handover.handed_over_at == events[-1].device_time
    local = evening.handed_over_at.astimezone(post.site.tz)
    assert (local.hour, local.minute) == (20, 2)
    assert (morning.on_time, morning.late_minutes) == (False, 2)
    assert (evening.on_time, evening.late_minutes) == (True, 0)
    assert duty.due_until == evening.shift_start + timedelta(hours=12)
    # The night's relief carried over the day's open items at the post.
    assert {item["title"] for item in evening.carried} == {
        "卫生间天花板渗水",
        "楼上住户夜间装修噪音",
    }

    # The published roster agrees with the handovers.
    def rostered(start):
        entry = db.session.scalar(
            select(RosterEntry)
            .join(RosterMonth, RosterMonth.id == RosterEntry.month_id)
            .where(
                RosterEntry.post_id == post.id,
                RosterEntry.start_at == start,
                RosterMonth.status == "published",
            )
        )
        return entry.user.display_name if entry else None

    first = post.site.local(now).date().replace(day=1)
    for start, name in [
        (morning.shift_start - timedelta(hours=12), "陈杰"),
        (morning.shift_start, "张伟"),
        (evening.shift_start, "刘芳"),
    ]:
        if post.site.local(start).date() >= first - timedelta(days=1):  # in the demo's months
            assert rostered(start) == name, (start, name)
