"""The handover's paper trail: the printable record (both signatures, discrepancies linked
to their nonconformities), the histories per post and per person with their exports, the
coverage page's posts (H10 relief overdue, H11 lateness), and the demo's handover."""

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from dutypwa import handover_views
from dutypwa.dutylog.entries import record_entry
from dutypwa.extensions import db
from dutypwa.handover import arrive, record_step
from dutypwa.handover_views import signature_svg
from dutypwa.models import DutyEntry, Finding, Handover, HandoverEvent, Post, PostDuty, User
from tests.clock import base_day_at
from tests.conftest import new_op_id
from tests.handover.conftest import on_duty as hold

# The day shift on the base day (DUTYPWA_TEST_TODAY): 08:00 in Shanghai, and its date.
DAY_START = base_day_at(8)
DAY = base_day_at(8).astimezone(ZoneInfo("Asia/Shanghai")).date()
EVE = DAY - timedelta(days=1)
SIGN_DAY = "M 10 10 L 40 30 L 80 12"
SIGN_NIGHT = "M 5 50 l 20 -10 l 30 25 L 120 40"


@pytest.fixture(autouse=True)
def _at_the_day_shift(frozen_clock):
    """The server's clock at 08:00 on the base day, where the handovers happen."""
    frozen_clock.move_to(DAY_START)


@pytest.fixture(autouse=True)
def _english(app):
    """The domain functions word their refusals and nonconformities in English here."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


def on_duty(post, person, until=DAY_START):
    hold(post, person, until)


def step(handover, person, action, at, **fields):
    event, _created = record_step(
        handover, by=person, op_id=new_op_id(), action=action, fields=fields,
        device_time=at, received_at=at,
    )  # fmt: skip
    db.session.commit()
    return event


def handover_at(post, outgoing, incoming, start=DAY_START, late=timedelta(0), sign=True,
                missing_torch=False, carry=None):  # fmt: skip
    """A whole handover at `start`: arrival 10 min early (+ `late`), the count, the log,
    the area, the summary and both signatures."""
    on_duty(post, outgoing, until=start)
    arrived = start - timedelta(minutes=10) + late
    handover, _ = arrive(
        post, by=incoming, op_id=new_op_id(), device_time=arrived, received_at=arrived
    )
    db.session.commit()
    count = {"count-0": "1" if missing_torch else "2", "count-1": "3"}
    if missing_torch:
        count["condition-0"], count["explanation-0"] = "missing", "借给保安巡逻，未归还"
    step(handover, incoming, "inventory", arrived + timedelta(minutes=1), **count)
    decisions = {f"entry-{entry.id}": "carried" for entry in carry or []}
    step(handover, incoming, "log_review", arrived + timedelta(minutes=2), **decisions)
    area = {"anomaly-0": "会所门口台阶有积水", "anomaly-explanation-0": "已放置警示牌"}
    step(handover, incoming, "area_check", arrived + timedelta(minutes=3), **area)
    step(handover, outgoing, "summary", arrived + timedelta(minutes=4), summary="夜班正常")
    if sign:
        step(handover, incoming, "sign_incoming", arrived + timedelta(minutes=5),
             signature=SIGN_DAY)  # fmt: skip
        step(handover, outgoing, "sign_outgoing", arrived + timedelta(minutes=6),
             signature=SIGN_NIGHT)  # fmt: skip
    return handover


def repair(site, post, by, summary="卫生间天花板渗水"):
    entry, _ = record_entry(
        site, by=by, op_id=new_op_id(), device_time=DAY_START - timedelta(hours=3),
        kind="repair", summary=summary, post=post,
    )  # fmt: skip
    db.session.commit()
    return entry


def page(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True) if response.mimetype.startswith("text/") else ""


# The record


def test_record_is_the_paper_handover_book(client, login, site, post, night, day):
    entry = repair(site, post, night)
    handover = handover_at(post, night, day, missing_torch=True, carry=[entry])
    login(day)  # staff may read the records of their site
    body = page(client, f"/s/{site.code}/handovers/{handover.id}")
    assert "客户服务中心" in body and f"{DAY}" in body and "08:00–20:00" in body
    title = re.search(r"<title>(.*?)</title>", body, re.S).group(1)
    assert f"{DAY}" in title and "<" not in title  # plain text in the tab and the PDF
    assert re.search(r'id="outgoing-person">\s*刘芳', body)
    assert re.search(r'id="incoming-person">\s*张伟', body)
    assert "On time" in body and "Not yet signed" not in body
    # H2: the missing torch is highlighted, explained and linked to its nonconformity.
    torch = re.search(r'<tr id="item-0" class="discrepancy">(.*?)</tr>', body, re.S).group(1)
    assert "手电筒" in torch and "借给保安巡逻，未归还" in torch and "missing" in torch
    inventory_event = db.session.scalar(
        select(HandoverEvent).where(HandoverEvent.action == "inventory")
    )
    finding_id = str(uuid.uuid5(uuid.UUID(inventory_event.id), "inventory/0"))
    assert db.session.get(Finding, finding_id).source == "handover"
    assert f'href="/s/{site.code}/findings/{finding_id}"' in torch
    assert 'id="item-1" class=""' in body  # the radios are in order
    # H12: carried over by name, with what became of it since; H4; H6, H7.
    assert re.search(rf'id="carried-{entry.id}"><strong>卫生间天花板渗水</strong>', body)
    assert "still open" in body
    assert "会所门口台阶有积水" in body and "已放置警示牌" in body and "夜班正常" in body
    # H5: both signatures drawn from their paths, with the times they were signed.
    assert f'<path d="{SIGN_DAY}"' in body and f'<path d="{SIGN_NIGHT}"' in body
    assert body.count('<svg class="signature"') == 2
    assert "not yet signed" not in body
    # Who did what, when.
    timeline = re.search(r'id="handover-timeline">(.*?)</section>', body, re.S).group(1)
    actions = re.findall(r'data-action="(\w+)"', timeline)
    assert actions == ["arrive", "inventory", "log_review", "area_check", "summary",
                       "sign_incoming", "sign_outgoing"]  # fmt: skip
    assert "刘芳 · Outgoing person signs" in " ".join(timeline.split())


def test_the_record_shows_a_carried_item_closed_since(client, login, site, post, night, day):
    from dutypwa.dutylog.entries import record_entry_step

    entry = repair(site, post, night)
    handover = handover_at(post, night, day, carry=[entry])
    record_entry_step(
        db.session.get(DutyEntry, entry.id), by=day, op_id=new_op_id(),
        device_time=DAY_START + timedelta(hours=2), received_at=DAY_START + timedelta(hours=2),
        action="close", result="已修好",
    )  # fmt: skip
    db.session.commit()
    login(day)
    body = page(client, f"/s/{site.code}/handovers/{handover.id}")
    carried = re.search(rf'id="carried-{entry.id}">(.*?)</li>', body, re.S).group(1)
    assert f"closed {DAY:%m-%d} 10:00" in " ".join(re.sub(r"<[^>]+>", "", carried).split()), carried


def test_an_open_handover_is_shown_as_not_signed(client, login, site, post, night, day):
    handover = handover_at(post, night, day, sign=False, late=timedelta(minutes=15))
    login(night)
    body = page(client, f"/s/{site.code}/handovers/{handover.id}")
    assert 'id="handover-state"' in body and "Not yet signed" in body
    assert body.count("not yet signed") == 2 and '<svg class="signature"' not in body
    assert "Late 10 min" in body  # H11: due 5 minutes before the start


def test_a_cancelled_handover_says_so(client, login, site, post, night, day):
    handover = handover_at(post, night, day, sign=False)
    step(handover, day, "cancel", DAY_START, reason="签到错了岗位")
    login(day)
    body = page(client, f"/s/{site.code}/handovers/{handover.id}")
    assert re.search(r'id="handover-state"><strong>Cancelled</strong>', body)
    assert re.search(r'id="cancel-reason">张伟: 签到错了岗位<', body)


def test_a_stored_signature_that_is_not_a_path_is_never_output(client, login, site, post,
                                                                 night, day):  # fmt: skip
    handover = handover_at(post, night, day)
    handover.incoming_signature = 'M 1 1"/><script>alert(1)</script><path d="M 1 1'
    db.session.commit()
    login(day)
    body = page(client, f"/s/{site.code}/handovers/{handover.id}")
    assert "<script>alert" not in body and body.count('<svg class="signature"') == 1


def test_signature_svg_frames_the_drawing():
    svg = signature_svg("M 10 20 l 30 40 L 5 80 m 100 -70 l 1 1", "sig")
    assert 'viewBox="-1 4 113 82"' in svg  # x 5…106, y 10…80, 6 of margin around
    assert signature_svg("") == "" and signature_svg("rm -rf /; echo 1234567") == ""


def test_another_sites_record_is_not_shown(client, login, site, post, night, day, make_site,
                                           make_user):  # fmt: skip
    handover = handover_at(post, night, day)
    other = make_site(code="NANHU")
    login(make_user("supervisor", sites=[other]))
    page(client, f"/s/{other.code}/handovers/{handover.id}", 404)
    page(client, f"/s/{site.code}/handovers/{handover.id}", 403)


# Histories


def three_shifts(post, night, day, site):
    first = handover_at(post, night, day, start=DAY_START - timedelta(hours=12))
    second = handover_at(post, day, night, start=DAY_START, late=timedelta(minutes=20))
    entry = repair(site, post, night)
    third = handover_at(post, night, day, start=DAY_START + timedelta(hours=12),
                        missing_torch=True, carry=[entry])  # fmt: skip
    return first, second, third


def test_post_history_is_the_chain_newest_first(client, login, site, post, night, day,
                                                monkeypatch):  # fmt: skip
    first, second, third = three_shifts(post, night, day, site)
    login(night)
    body = page(client, f"/s/{site.code}/posts/{post.id}/handovers")
    assert re.findall(r'id="handover-([0-9a-f-]{36})"', body) == [third.id, second.id, first.id]
    row = re.search(rf'id="handover-{third.id}"(.*?)</li>', body, re.S).group(1)
    assert f"{DAY} · 20:00–08:00" in row and "刘芳 → 张伟" in row
    assert "1 discrepancies" in row and "1 carried over" in row and "Signed" in row
    row = re.search(rf'id="handover-{second.id}"(.*?)</li>', body, re.S).group(1)
    assert "Late 15 min" in row and "张伟 → 刘芳" in row
    monkeypatch.setattr(handover_views, "PER_PAGE", 2)
    body = page(client, f"/s/{site.code}/posts/{post.id}/handovers?page=2")
    assert re.findall(r'id="handover-([0-9a-f-]{36})"', body) == [first.id]
    assert "Page 2 of 2" in body and 'rel="prev"' in body
    page(client, f"/s/{site.code}/posts/{post.id}/handovers?page=0", 400)


def test_person_history_lists_the_shifts_they_signed(client, login, site, post, night, day,
                                                     make_user, make_post):  # fmt: skip
    first, second, third = three_shifts(post, night, day, site)
    other_post = make_post(site, name="监控室")
    third_person = make_user("staff", sites=[site], name="陈杰")
    fourth = handover_at(other_post, third_person, day, start=DAY_START + timedelta(days=1))
    login(night)
    body = page(client, f"/s/{site.code}/people/{night.id}/handovers")
    assert re.findall(r'id="handover-([0-9a-f-]{36})"', body) == [third.id, second.id, first.id]
    login(day)
    body = page(client, f"/s/{site.code}/people/{day.id}/handovers")
    assert re.findall(r'id="handover-([0-9a-f-]{36})"', body)[0] == fourth.id
    assert "监控室" in body


def test_staff_see_only_their_own_person_page(client, login, site, post, night, day,
                                              supervisor, make_site, make_user):  # fmt: skip
    handover_at(post, night, day)
    login(day)
    for suffix in ("", ".csv", ".xlsx"):
        page(client, f"/s/{site.code}/people/{night.id}/handovers{suffix}", 403)
        page(client, f"/s/{site.code}/people/{day.id}/handovers{suffix}", 200)
    # Staff read their site's post chains.
    page(client, f"/s/{site.code}/posts/{post.id}/handovers")
    login(supervisor)
    page(client, f"/s/{site.code}/people/{night.id}/handovers")
    stranger = make_user("staff", sites=[make_site()])
    page(client, f"/s/{site.code}/people/{stranger.id}/handovers", 404)
    # The index lists every person to managers, only themself to staff.
    assert night.display_name in page(client, f"/s/{site.code}/handovers")
    login(day)
    body = page(client, f"/s/{site.code}/handovers")
    assert f"/people/{day.id}/handovers" in body and f"/people/{night.id}/handovers" not in body


# Exports


def test_csv_export_has_a_bom_headers_and_rows(client, login, site, post, night, day):
    _first, _second, third = three_shifts(post, night, day, site)
    login(night)
    response = client.get(f"/s/{site.code}/posts/{post.id}/handovers.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:5] == ["Date", "Shift", "Post", "Outgoing", "Incoming"]
    assert len(rows) == 4
    newest = dict(zip(rows[0], rows[1], strict=True))
    assert newest["Date"] == f"{DAY}" and newest["Shift"] == "20:00–08:00"
    assert (newest["Outgoing"], newest["Incoming"]) == ("刘芳", "张伟")
    counts = (newest["Discrepancies"], newest["Carried over"], newest["Status"])
    assert counts == ("1", "1", "Signed")
    assert newest["Record"].endswith(f"/s/{site.code}/handovers/{third.id}")
    late = dict(zip(rows[0], rows[2], strict=True))
    assert (late["On time"], late["Minutes late"]) == ("no", "15")
    person = client.get(f"/s/{site.code}/people/{night.id}/handovers.csv").get_data()
    assert len(list(csv.reader(io.StringIO(person.decode("utf-8-sig"))))) == 4


def test_xlsx_export_opens_in_excel(client, login, site, post, night, day, supervisor):
    three_shifts(post, night, day, site)
    login(supervisor)
    for url in (f"/s/{site.code}/posts/{post.id}/handovers.xlsx",
                f"/s/{site.code}/people/{day.id}/handovers.xlsx"):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        sheet = load_workbook(io.BytesIO(response.get_data())).active
        assert [cell.value for cell in sheet[1]][:5] == [
            "Date", "Shift", "Post", "Outgoing", "Incoming"
        ]  # fmt: skip
        assert sheet.max_row == 4
        assert [sheet["A2"].value, sheet["B2"].value, sheet["C2"].value] == [
            f"{DAY}", "20:00–08:00", "客户服务中心"
        ]  # fmt: skip
        assert (sheet["D2"].value, sheet["E2"].value, sheet["I2"].value) == ("刘芳", "张伟", 1)
        assert sheet["H3"].value == 15 and sheet["G3"].value == "no"


def test_export_headers_are_translated(client, login, site, post, night, day, app):
    """Headers go through gettext: with the Chinese UI they are what the catalogue says."""
    handover_at(post, night, day)
    login(night)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    night.locale = "zh_CN"
    db.session.commit()
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        from flask_babel import force_locale
        from flask_babel import gettext as _

        with force_locale("zh_CN"):
            expected = _("Date")
    raw = client.get(f"/s/{site.code}/posts/{post.id}/handovers.csv").get_data()
    assert raw.decode("utf-8-sig").splitlines()[0].split(",")[0] == expected


# The coverage page: posts (H10, H11)


def coverage(client, site):
    body = page(client, f"/s/{site.code}/coverage")
    return re.search(r'id="coverage-posts">(.*?)</section>', body, re.S).group(1)


def test_h10_relief_overdue_shows_the_person_still_on_duty(client, login, site, post, night,
                                                          supervisor, make_post):  # fmt: skip
    empty = make_post(site, name="监控室")
    now = datetime.now(UTC)
    on_duty(post, night, until=now + timedelta(hours=1))
    login(supervisor)
    posts = coverage(client, site)
    row = re.search(rf'id="post-duty-{post.id}"(.*?)</li>', posts, re.S).group(1)
    assert "刘芳 on duty" in row and "Relief overdue" not in row
    # The shift's end passes and nobody signs a handover: the post is never shown empty.
    on_duty(post, night, until=now - timedelta(minutes=1))
    posts = coverage(client, site)
    row = re.search(rf'id="post-duty-{post.id}"(.*?)</li>', posts, re.S).group(1)
    assert "Relief overdue — 刘芳 still on duty" in row and "relief-overdue" in posts
    assert "Nobody signed on yet" not in row
    row = re.search(rf'id="post-duty-{empty.id}"(.*?)</li>', posts, re.S).group(1)
    assert "Nobody signed on yet" in row


def test_h10_an_open_handover_is_shown_in_progress(client, login, site, post, night, day,
                                                   supervisor):  # fmt: skip
    now = datetime.now(UTC)
    on_duty(post, night, until=now - timedelta(minutes=30))
    handover, _ = arrive(post, by=day, op_id=new_op_id(), device_time=now, received_at=now)
    db.session.commit()
    login(supervisor)
    row = coverage(client, site)
    assert "Handover in progress" in row and "张伟 checked in at" in row
    assert f"/handovers/{handover.id}" in row
    assert "Relief overdue — 刘芳 still on duty" in row  # still hers until both sign


def test_h11_lateness_of_the_last_handover_is_shown(client, login, site, post, night, day,
                                                    supervisor):  # fmt: skip
    handover_at(post, night, day, start=DAY_START - timedelta(hours=12))
    late = handover_at(post, day, night, start=DAY_START, late=timedelta(minutes=30))
    login(supervisor)
    row = coverage(client, site)
    assert "Last handover" in row and f"/handovers/{late.id}" in row
    assert re.search(r'class="badge badge-overdue lateness">Late 25 min', row)


def test_coverage_etag_changes_with_the_posts(client, login, site, post, night, day,
                                              supervisor):  # fmt: skip
    on_duty(post, night, until=datetime.now(UTC) + timedelta(hours=2))
    login(supervisor)
    url = f"/s/{site.code}/coverage"
    etag = client.get(url).headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    now = datetime.now(UTC)
    handover, _ = arrive(post, by=day, op_id=new_op_id(), device_time=now, received_at=now)
    db.session.commit()
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    etag = changed.headers["ETag"]
    step(handover, day, "inventory", now, **{"count-0": "2", "count-1": "3"})
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 200


# The demo


def test_demo_has_a_station_post_on_duty_and_a_signed_handover(runner, client, login):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    post = db.session.scalar(select(Post).where(Post.name == "客户服务中心"))
    torch = next(item for item in post.inventory if item["name"] == "手电筒")
    assert torch["count"] == 2
    assert {"对讲机", "钥匙箱", "值班记录本"} <= {item["name"] for item in post.inventory}
    duty = db.session.get(PostDuty, post.id)
    local_since = duty.since.astimezone(post.site.tz)
    assert duty.person.username == "1002" and (local_since.hour, local_since.minute) == (20, 2)
    assert duty.due_until - duty.since == timedelta(hours=11, minutes=58)
    assert duty.since <= datetime.now(UTC) < duty.since + timedelta(days=1)
    open_repairs = db.session.scalars(
        select(DutyEntry).where(DutyEntry.post_id == post.id, DutyEntry.status == "open",
                                DutyEntry.kind == "repair")
    ).all()  # fmt: skip
    assert open_repairs
    handover, night = db.session.scalars(
        select(Handover).where(Handover.post_id == post.id).order_by(Handover.arrived_at)
    ).all()
    assert handover.status == "signed" and handover.carried
    assert handover.shift_start == night.shift_start - timedelta(hours=12)
    assert night.id == duty.handover_id and night.handed_over_at == duty.since
    supervisor = db.session.scalar(select(User).where(User.username == "2001"))
    login(supervisor, password="demo1234")
    body = page(client, f"/s/CUIHU/handovers/{handover.id}")
    assert body.count('<svg class="signature"') == 2 and "Late 2 min" in body
    assert "closed" in body  # the carried repair was fixed later that day


def test_d5_the_duty_record_names_who_held_the_post_from_the_handovers(
    client, login, site, post, night, day, make_user
):
    """D5: the night person held the post through the night shift and handed over at
    08:00 to the day person, who held it through the day shift; neither logged anything."""
    handover_at(post, night, day)  # signed at 07:55–07:56 local on DAY
    login(make_user("supervisor", sites=[site], name="李娜2"))

    def people(date, shift):
        body = page(client, f"/s/{site.code}/log/record?date={date}&shift={shift}")
        return body.split('id="duty-record"')[1].split("</tr>")[0:8]

    night_shift = "".join(people(f"{EVE}", "night"))
    day_shift = "".join(people(f"{DAY}", "day"))
    assert "刘芳" in night_shift and "张伟" in night_shift  # relieved at 07:56, before 08:00
    assert "张伟" in day_shift and "刘芳" not in day_shift
