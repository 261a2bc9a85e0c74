"""Who is acting on a station tablet is changed by POSTs only (issue 11 §1.1): the service
worker refreshes the offline station (`GET /station/app`) in the background after every
station page, and that refresh once made the server forget the person who had just entered
their PIN — every check-in was then refused with 403. No station GET touches the session;
leaving (Cancel, "Not you?", the idle return) is a POST."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from dutypwa.extensions import db
from dutypwa.models import Handover
from tests.conftest import new_op_id
from tests.handover.conftest import on_duty


@pytest.fixture
def tablet(client, login, supervisor, post, night):
    """The test client enrolled as the post's station; `night` holds the post."""
    on_duty(post, night, datetime.now(UTC) + timedelta(hours=2))
    login(supervisor)
    assert client.post("/s/CUIHU/stations", data={"post_id": post.id}).status_code == 303
    return client


def session_cookies(response) -> list[str]:
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]


def pin(client, person, code):
    response = client.post(f"/station/people/{person.id}/pin", data={"pin": code, "then": "arrive"})
    assert response.status_code == 303, response.get_data(as_text=True)


def check_in(client):
    return client.post(
        "/station/handovers",
        data={"op_id": new_op_id(), "device_time": datetime.now(UTC).isoformat()},
    )


def test_the_workers_refresh_of_the_offline_station_keeps_the_person_who_entered_their_pin(
    tablet, day
):
    pin(tablet, day, "5678")
    assert tablet.get("/station/start").status_code == 200
    # What the worker fetches after each station page, and the page's reference refresh.
    for url in ("/station/app", "/station/reference.json"):
        response = tablet.get(url)
        assert response.status_code == 200
        assert session_cookies(response) == [], f"{url} must not send the session again"
    answer = check_in(tablet)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    handover = db.session.scalar(select(Handover).where(Handover.status == "open"))
    assert handover.incoming_id == day.id


@pytest.mark.parametrize("url", ["/station", "/station/app", "/station/people"])
def test_no_station_get_forgets_the_person(tablet, day, url):
    pin(tablet, day, "5678")
    assert tablet.get(url).status_code == 200
    assert check_in(tablet).status_code == 303


def test_leaving_forgets_the_person(tablet, day):
    pin(tablet, day, "5678")
    left = tablet.post("/station/leave")
    assert left.status_code == 303 and left.headers["Location"].endswith("/station")
    refused = check_in(tablet)
    assert refused.status_code == 403
    assert db.session.scalar(select(Handover)) is None


def test_leaving_from_htmx_is_a_page_change(tablet, day):
    pin(tablet, day, "5678")
    left = tablet.post("/station/leave", headers={"HX-Request": "true"})
    assert left.status_code == 204 and left.headers["HX-Redirect"].endswith("/station")


def test_the_tablets_session_is_not_a_permanent_login(tablet, day):
    """A permanent session is sent with every response; a background request answered late
    would then put back the session from before the PIN."""
    pin(tablet, day, "5678")
    response = tablet.get("/station/start")
    for cookie in session_cookies(response):
        assert "Expires=" not in cookie and "Max-Age=" not in cookie
    assert session_cookies(tablet.get("/station/app")) == []


def test_a_login_from_before_the_enrolment_is_not_a_login_on_the_station(
    client, login, supervisor, post, night, frozen_clock
):
    """The enrolling supervisor's session cookie, set again by a response to a request
    sent just before the enrolment (the worker's background refresh), does not log them
    back in on the tablet; a login made on the tablet afterwards does."""
    on_duty(post, night, datetime.now(UTC) + timedelta(hours=2))
    login(supervisor)
    before = client.get_cookie("session").value
    frozen_clock.shift(timedelta(seconds=5))
    assert client.post("/s/CUIHU/stations", data={"post_id": post.id}).status_code == 303
    client.set_cookie("session", before)  # the late answer puts the old session back
    page = client.get("/station").get_data(as_text=True)
    assert f'data-user-id="{supervisor.id}"' not in page
    assert client.get("/s/CUIHU/stations").status_code == 302  # to the login page
    frozen_clock.shift(timedelta(seconds=5))
    login(supervisor)
    assert client.get("/s/CUIHU/stations").status_code == 200
