"""Station mode through the pages: enrolling a tablet, its cookie, choosing a person and
their PIN (with the lockout kept in the database), and a whole handover on the tablet
(H2, H3, H5, H8, H9, H10, H12)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from dutypwa import station as station_module
from dutypwa.dutylog.entries import record_entry
from dutypwa.extensions import db
from dutypwa.handover import PIN_TRIES
from dutypwa.models import DutyEntry, Finding, Handover, PostDuty, Station, User
from tests.conftest import new_op_id
from tests.handover.conftest import on_duty as hold

SIGNATURE = "M 10 10 L 40 30 L 80 12"
COUNT_OK = {"count-0": "2", "count-1": "3", "condition-0": "ok", "condition-1": "ok"}


@pytest.fixture
def tablet(client, login, supervisor, post):
    """The test client enrolled as the post's station (the supervisor logged out)."""
    login(supervisor)
    response = client.post("/s/CUIHU/stations", data={"post_id": post.id, "name": "服务中心平板"})
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


def on_duty(post, person, until=None):
    hold(post, person, until or datetime.now(UTC) + timedelta(hours=2))


def pin(client, person, code, then="handover"):
    return client.post(f"/station/people/{person.id}/pin", data={"pin": code, "then": then})


def check_in(client, person, code):
    assert pin(client, person, code, then="arrive").status_code == 303
    response = client.post(
        "/station/handovers",
        data={"op_id": new_op_id(), "device_time": datetime.now(UTC).isoformat()},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return db.session.scalar(select(Handover).where(Handover.status == "open"))


def step(client, handover, action, **fields):
    data = {"action": action, "op_id": new_op_id(), "device_time": datetime.now(UTC).isoformat()}
    return client.post(f"/station/handovers/{handover.id}/steps", data={**data, **fields})


def text(response) -> str:
    return response.get_data(as_text=True)


def up_to_signatures(client, handover, day, night):
    assert step(client, handover, "inventory", **COUNT_OK).status_code == 303
    assert step(client, handover, "log_review").status_code == 303
    assert step(client, handover, "area_check", nothing="1").status_code == 303
    assert pin(client, night, "1234").status_code == 303
    assert step(client, handover, "summary", summary="夜班平安").status_code == 303


# Enrolling and the station cookie


def test_enrolling_sets_an_httponly_cookie_and_logs_the_supervisor_out(
    client, login, supervisor, post
):
    login(supervisor)
    assert client.get("/s/CUIHU/stations").status_code == 200
    response = client.post("/s/CUIHU/stations", data={"post_id": post.id, "name": "平板"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/station")
    cookie = next(h for h in response.headers.getlist("Set-Cookie")
                  if h.startswith("dutypwa_station="))  # fmt: skip
    for attribute in ("HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=34560000"):
        assert attribute in cookie
    [station] = db.session.scalars(select(Station)).all()
    assert station.enrolled_by_id == supervisor.id and station.post_id == post.id
    assert station.token_hash not in cookie
    # Logged out on this browser: a manager's page sends it to the login page.
    assert client.get("/s/CUIHU/stations").status_code == 302
    home = client.get("/station")
    assert home.status_code == 200 and "客户服务中心" in text(home)
    assert "Start handover — I am the relief" in text(home)


def test_enrolling_needs_a_post_of_the_site(client, login, supervisor, post):
    login(supervisor)
    response = client.post("/s/CUIHU/stations", data={"post_id": ""})
    assert response.status_code == 422 and "Choose the post" in text(response)
    assert db.session.scalars(select(Station)).all() == []


def test_station_pages_without_the_cookie_or_with_a_revoked_one_are_refused(
    app, tablet, login, supervisor
):
    stranger = app.test_client()
    refused = stranger.get("/station", headers={"Accept-Language": "en"})
    assert refused.status_code == 403 and "not a station" in text(refused)
    # A supervisor revokes it from another browser.
    other = app.test_client()
    other.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    other.post("/login", data={"username": supervisor.username, "password": "secret-pass-1"})
    [station] = db.session.scalars(select(Station)).all()
    listing = other.get("/s/CUIHU/stations")
    assert "服务中心平板" in text(listing) and "Revoke" in text(listing)
    assert other.post(f"/s/CUIHU/stations/{station.id}/revoke").status_code == 303
    db.session.expire_all()
    assert db.session.get(Station, station.id).revoked_at is not None
    gone = tablet.get("/station")
    assert gone.status_code == 403 and "no longer a station" in text(gone)


# The PIN pad


def test_wrong_pins_count_in_the_database_and_lock_the_person_out(app, tablet, night):
    page = tablet.get(f"/station/people/{night.id}/pin")
    assert 'inputmode="numeric"' in text(page) and 'autocomplete="off"' in text(page)
    for tries_left in range(PIN_TRIES - 1, 0, -1):
        wrong = pin(tablet, night, "0000")
        assert wrong.status_code == 403 and f"Wrong PIN. {tries_left} tries left" in text(wrong)
    locked = pin(tablet, night, "0000")
    assert locked.status_code == 429 and "try again in 10 minutes" in text(locked)
    assert db.session.get(User, night.id).pin_locked_until is not None
    # Another worker (another client on the same station) sees the lockout, and the right
    # PIN is refused too while it lasts.
    second = app.test_client()
    second.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    second.set_cookie("dutypwa_station", tablet.get_cookie("dutypwa_station").value)
    still = pin(second, night, "1234")
    assert still.status_code == 429 and "try again in 10 minutes" in text(still)
    assert tablet.get("/station/start").status_code == 302  # nobody is acting


def test_the_pin_pad_answers_htmx_with_the_message_or_a_page_change(tablet, night):
    headers = {"HX-Request": "true"}
    wrong = tablet.post(f"/station/people/{night.id}/pin", data={"pin": "9"}, headers=headers)
    assert wrong.status_code == 403 and 'id="pin-form"' in text(wrong)
    assert "<html" not in text(wrong)
    right = tablet.post(f"/station/people/{night.id}/pin", data={"pin": "1234"}, headers=headers)
    assert right.status_code == 204 and right.headers["HX-Redirect"] == "/station"


def test_the_person_is_forgotten_after_the_idle_time(tablet, post, night, day, monkeypatch):
    on_duty(post, night)
    handover = check_in(tablet, day, "5678")
    later = station_module.time.time() + station_module.ACTOR_IDLE_S + 1
    monkeypatch.setattr(station_module.time, "time", lambda: later)
    refused = step(tablet, handover, "inventory", **COUNT_OK)
    assert refused.status_code == 403 and "enter your PIN first" in text(refused)


# The handover on the tablet


def test_h5_a_whole_handover_on_the_tablet_ends_with_the_relief_on_duty(
    site, tablet, post, night, day
):
    on_duty(post, night)
    repair, _ = record_entry(site, by=night, op_id=new_op_id(), device_time=datetime.now(UTC),
                             kind="repair", summary="3栋电梯异响，已报修", post=post)  # fmt: skip
    db.session.commit()
    home = tablet.get("/station")
    assert "刘芳" in text(home) and "3栋电梯异响" in text(home)
    assert tablet.get("/station/start").headers["Location"].endswith("/station/people?then=arrive")
    chooser = text(tablet.get("/station/people?then=arrive"))
    assert f"/station/people/{day.id}/pin" in chooser
    assert f"/station/people/{night.id}/pin" not in chooser  # on duty: not the relief

    handover = check_in(tablet, day, "5678")
    assert handover.incoming_id == day.id and handover.outgoing_id == night.id
    page = tablet.get(f"/station/handovers/{handover.id}")
    assert page.status_code == 200 and "Count the items" in text(page)

    # H2: a missing torch needs the outgoing person's explanation, then is a nonconformity.
    short = {**COUNT_OK, "count-0": "1"}
    refused = step(tablet, handover, "inventory", **short)
    assert refused.status_code == 422 and "the outgoing person explains it" in text(refused)
    explained = {**short, "explanation-0": "借给保安巡逻，未归还"}
    assert step(tablet, handover, "inventory", **explained).status_code == 303
    [finding] = db.session.scalars(select(Finding)).all()
    assert finding.source == "handover" and "借给保安巡逻" in finding.description

    # H3, H12: the repair is carried over by name.
    review = tablet.get(f"/station/handovers/{handover.id}")
    assert "named in the handover" in text(review) and "3栋电梯异响" in text(review)
    assert step(tablet, handover, "log_review", **{f"entry-{repair.id}": "carried"}).status_code \
        == 303  # fmt: skip
    assert step(tablet, handover, "area_check", **{"anomaly-0": "东门路灯不亮",
                "anomaly-explanation-0": "已报修"}).status_code == 303  # fmt: skip

    # The summary is the outgoing person's: the tablet asks for their PIN.
    asked = tablet.get(f"/station/handovers/{handover.id}")
    assert (
        asked.status_code == 302 and f"/station/people/{night.id}/pin" in asked.headers["Location"]
    )
    assert pin(tablet, night, "1234").status_code == 303
    assert step(tablet, handover, "summary", summary="夜班平安，手电筒一支借出").status_code == 303

    sign = tablet.get(f"/station/handovers/{handover.id}")
    assert "Relief signs" in text(sign) and "data-signature" in text(sign)
    assert step(tablet, handover, "sign_incoming", signature=SIGNATURE, pin="5678").status_code \
        == 303  # fmt: skip
    signed = step(tablet, handover, "sign_outgoing", signature=SIGNATURE, pin="1234")
    assert signed.headers["Location"].endswith(f"/station/handovers/{handover.id}/done")

    db.session.expire_all()
    handover = db.session.get(Handover, handover.id)
    assert handover.status == "signed"
    assert handover.carried == [{"entry": repair.id, "title": "3栋电梯异响，已报修"}]
    assert handover.anomalies == [{"text": "东门路灯不亮", "explanation": "已报修"}]
    assert [event.by_id for event in handover.events] == [day.id] * 3 + [night.id, day.id, night.id]
    assert db.session.get(PostDuty, post.id).person_id == day.id
    done = tablet.get(f"/station/handovers/{handover.id}/done")
    assert "Handover complete — 张伟 is on duty" in text(done)
    assert "张伟" in text(tablet.get("/station"))


def test_a_step_by_the_wrong_person_is_refused_and_the_handover_stays_open(
    tablet, post, night, day
):
    on_duty(post, night)
    handover = check_in(tablet, day, "5678")
    assert pin(tablet, night, "1234").status_code == 303
    refused = step(tablet, handover, "inventory", **COUNT_OK)
    assert refused.status_code == 403 and "Only the incoming person can do this" in text(refused)
    db.session.expire_all()
    assert db.session.get(Handover, handover.id).status == "open"
    assert db.session.get(Handover, handover.id).events == []
    # The page asks for the right person.
    asked = tablet.get(f"/station/handovers/{handover.id}")
    assert f"/station/people/{day.id}/pin" in asked.headers["Location"]
    assert "Handover in progress" in text(tablet.get("/station"))


def test_h5_a_signature_with_another_persons_pin_is_refused(tablet, post, night, day):
    on_duty(post, night)
    handover = check_in(tablet, day, "5678")
    up_to_signatures(tablet, handover, day, night)
    refused = step(tablet, handover, "sign_incoming", signature=SIGNATURE, pin="1234")
    assert refused.status_code == 403 and "Wrong PIN" in text(refused)
    assert db.session.get(User, day.id).pin_failures == 1  # counted against the signer
    empty = step(tablet, handover, "sign_incoming", signature="", pin="5678")
    assert empty.status_code == 422 and "Sign in the box" in text(empty)
    db.session.expire_all()
    handover = db.session.get(Handover, handover.id)
    assert handover.status == "open" and handover.incoming_signed_at is None


def test_h8_the_outgoing_person_cannot_sign_before_the_relief(tablet, post, night, day):
    on_duty(post, night)
    handover = check_in(tablet, day, "5678")
    up_to_signatures(tablet, handover, day, night)
    page = tablet.get(f"/station/handovers/{handover.id}?step=sign_outgoing")
    assert "Outgoing person signs" in text(page)
    refused = step(tablet, handover, "sign_outgoing", signature=SIGNATURE, pin="1234")
    assert refused.status_code == 422 and "The relief signs first" in text(refused)
    db.session.expire_all()
    assert db.session.get(Handover, handover.id).status == "open"
    assert db.session.get(PostDuty, post.id).person_id == night.id


def test_h9_important_open_work_blocks_until_a_supervisor_lets_it_pass(
    site, tablet, post, night, day, supervisor
):
    on_duty(post, night)
    emergency, _ = record_entry(site, by=night, op_id=new_op_id(), device_time=datetime.now(UTC),
                                kind="emergency", summary="B2 配电房冒烟", post=post)  # fmt: skip
    db.session.commit()
    assert "blocks the handover" in text(tablet.get("/station"))
    handover = check_in(tablet, day, "5678")
    assert step(tablet, handover, "inventory", **COUNT_OK).status_code == 303
    review = tablet.get(f"/station/handovers/{handover.id}")
    assert '<span class="badge badge-overdue">Important</span>' in review.get_data(as_text=True)
    carried = {f"entry-{emergency.id}": "carried"}
    assert step(tablet, handover, "log_review", **carried).status_code == 303
    assert step(tablet, handover, "area_check").status_code == 303
    assert pin(tablet, night, "1234").status_code == 303
    assert step(tablet, handover, "summary", summary="配电房待处理").status_code == 303

    page = tablet.get(f"/station/handovers/{handover.id}")
    assert "Supervisor override" in text(page) and "李娜" in text(page)
    blocked = step(tablet, handover, "sign_incoming", signature=SIGNATURE, pin="5678")
    assert blocked.status_code == 422 and "Important work is not finished" in text(blocked)
    no_reason = step(tablet, handover, "override", supervisor_id=supervisor.id, pin="2468")
    assert no_reason.status_code == 422 and "reason" in text(no_reason)
    wrong_pin = step(tablet, handover, "override", supervisor_id=supervisor.id, pin="0000",
                     reason="维修已到场")  # fmt: skip
    assert wrong_pin.status_code == 403
    assert step(tablet, handover, "override", supervisor_id=supervisor.id, pin="2468",
                reason="维修已到场，由白班跟进").status_code == 303  # fmt: skip
    assert step(tablet, handover, "sign_incoming", signature=SIGNATURE, pin="5678").status_code \
        == 303  # fmt: skip
    db.session.expire_all()
    handover = db.session.get(Handover, handover.id)
    assert handover.override_by_id == supervisor.id
    assert handover.override_reason == "维修已到场，由白班跟进"
    assert db.session.get(DutyEntry, emergency.id).status == "open"


def test_h10_the_station_shows_relief_overdue_never_an_empty_post(tablet, post, night):
    on_duty(post, night, until=datetime.now(UTC) - timedelta(minutes=20))
    home = tablet.get("/station")
    assert "Relief overdue — 刘芳 still on duty" in text(home)


def test_h4_the_nothing_abnormal_button_refuses_written_anomalies(tablet, post, night, day):
    on_duty(post, night)
    handover = check_in(tablet, day, "5678")
    assert step(tablet, handover, "inventory", **COUNT_OK).status_code == 303
    assert step(tablet, handover, "log_review").status_code == 303
    refused = step(tablet, handover, "area_check", nothing="1", **{"anomaly-0": "漏水"})
    assert refused.status_code == 422 and "You wrote anomalies" in text(refused)
    assert 'value="漏水"' in text(refused)


def test_a_handover_of_another_post_is_not_found(tablet, site, make_post, night, day):
    other = make_post(site, name="正门岗")
    handover = Handover(id=new_op_id(), site_id=site.id, post_id=other.id, incoming_id=day.id,
                        shift_start=datetime.now(UTC), arrived_at=datetime.now(UTC))  # fmt: skip
    db.session.add(handover)
    db.session.commit()
    assert tablet.get(f"/station/handovers/{handover.id}").status_code == 404
    assert step(tablet, handover, "inventory", **COUNT_OK).status_code == 404


def test_a_handover_begun_by_mistake_is_cancelled_with_a_reason_and_a_pin(tablet, post, night, day):
    """The post is not stuck behind a wrong check-in; the cancelled one stays on record."""
    on_duty(post, night)
    handover = check_in(tablet, day, "5678")
    page = tablet.get(f"/station/handovers/{handover.id}")
    assert "Cancel this handover" in text(page)

    def cancel(person, code, reason="点错了"):
        return tablet.post(
            f"/station/handovers/{handover.id}/cancel",
            data={"op_id": new_op_id(), "device_time": datetime.now(UTC).isoformat(),
                  "person_id": person.id, "pin": code, "reason": reason},
        )  # fmt: skip

    assert cancel(day, "0000").status_code == 403
    assert cancel(day, "5678", reason="").status_code == 422
    db.session.expire_all()
    assert db.session.get(Handover, handover.id).status == "open"
    assert cancel(night, "1234").status_code == 303
    db.session.expire_all()
    assert db.session.get(Handover, handover.id).status == "cancelled"
    assert db.session.get(PostDuty, post.id).person_id == night.id
    again = check_in(tablet, day, "5678")  # the post can be handed over now
    assert again.id != handover.id


def test_a_handover_cannot_be_cancelled_once_the_relief_signed(tablet, post, night, day):
    on_duty(post, night)
    handover = check_in(tablet, day, "5678")
    up_to_signatures(tablet, handover, day, night)
    assert (
        step(tablet, handover, "sign_incoming", signature=SIGNATURE, pin="5678").status_code < 400
    )
    refused = tablet.post(
        f"/station/handovers/{handover.id}/cancel",
        data={"op_id": new_op_id(), "device_time": datetime.now(UTC).isoformat(),
              "person_id": night.id, "pin": "1234", "reason": "不交了"},
    )  # fmt: skip
    assert refused.status_code == 422 and "no longer be cancelled" in text(refused)


def test_h7_the_outgoing_summary_keeps_its_evidence_photos(app, tablet, post, night, day, tmp_path):
    import io

    from PIL import Image

    app.config["PHOTO_DIR"] = str(tmp_path / "photos")
    on_duty(post, night)
    handover = check_in(tablet, day, "5678")
    assert step(tablet, handover, "inventory", **COUNT_OK).status_code == 303
    assert step(tablet, handover, "log_review").status_code == 303
    assert step(tablet, handover, "area_check", nothing="1").status_code == 303
    assert pin(tablet, night, "1234").status_code == 303
    jpeg = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 40, 40)).save(jpeg, "JPEG")
    sent = step(tablet, handover, "summary", summary="门禁卡机故障，见照片",
                photos=(io.BytesIO(jpeg.getvalue()), "evidence.jpg"))  # fmt: skip
    assert sent.status_code == 303, text(sent)
    db.session.expire_all()
    [photo_id] = db.session.get(Handover, handover.id).photo_ids
    not_an_image = step(tablet, handover, "summary", summary="再来一次",
                        photos=(io.BytesIO(b"not a jpeg"), "x.jpg"))  # fmt: skip
    assert not_an_image.status_code == 415 and "photo" in text(not_an_image).lower()
    db.session.expire_all()
    assert db.session.get(Handover, handover.id).photo_ids == [photo_id]
    app.config["PHOTO_DIR"] = ""
