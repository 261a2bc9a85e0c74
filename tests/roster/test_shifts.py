"""Shift templates (R2): typed as times, overnight and split, versioned copy-on-write so the
shifts planned with an older version keep their times."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from dutypwa.extensions import db
from dutypwa.models import RosterEntry, ShiftTemplate
from dutypwa.roster import core


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU")


@pytest.fixture
def supervisor(site, make_user, login):
    user = make_user("supervisor", sites=[site])
    login(user)
    return user


def add(client, **fields):
    data = {"code": "N", "name": "夜班", "times": "20:00–08:00", "colour": "#c7d2fe", **fields}
    return client.post("/s/CUIHU/shifts", data=data)


def test_r2_overnight_and_split_shifts_are_typed_as_times(site, supervisor, client):
    assert add(client).status_code == 303
    assert (
        add(client, code="S", name="两头班", times="08:00-12:00 + 17:00-21:00").status_code == 303
    )
    shifts = {t.code: t.segments for t in db.session.scalars(select(ShiftTemplate))}
    assert shifts == {"N": [[1200, 1920]], "S": [[480, 720], [1020, 1260]]}
    page = client.get("/s/CUIHU/shifts").get_data(as_text=True)
    assert "20:00–08:00" in page and "08:00–12:00 + 17:00–21:00" in page


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"times": "8 to 20"}, "not a time span"),
        ({"times": ""}, "times"),
        ({"code": ""}, "code"),
        ({"code": "ABC"}, "code"),
        ({"colour": "red"}, "colour"),
        ({"name": " "}, "name"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_written(
    site, supervisor, client, fields, words
):
    response = add(client, **fields)
    assert response.status_code == 422
    assert words in response.get_data(as_text=True).lower()
    assert db.session.scalar(select(ShiftTemplate)) is None


def test_a_code_is_used_once_per_scope(site, supervisor, client):
    add(client)
    response = add(client, name="大夜班")
    assert response.status_code == 422 and "taken" in response.get_data(as_text=True)


def test_r2_changing_a_shift_keeps_the_times_of_what_was_planned(
    site, supervisor, client, make_post
):
    post = make_post(site)
    add(client, code="D", name="白班", times="08:00–20:00")
    first = db.session.scalar(select(ShiftTemplate))
    month = core.month_of(site, date(2031, 3, 1), create=True)
    entry = core.set_cell(month, by=supervisor, post=post, person=supervisor, day=date(2031, 3, 2),
                          code="D", version=month.version,
                          now=datetime(2030, 1, 1, tzinfo=UTC))  # fmt: skip
    db.session.commit()
    response = client.post(f"/s/CUIHU/shifts/{first.id}", data={
        "code": "D", "name": "白班", "times": "08:30–20:30", "colour": "#fde68a"})  # fmt: skip
    assert response.status_code == 303
    db.session.expire_all()
    newest = core.template_for(site, post, "D")
    assert newest.version == 2 and newest.family_id == first.id and newest.segments == [[510, 1230]]
    kept = db.session.get(RosterEntry, entry.id)
    assert kept.template_id == first.id and kept.start_at.hour == 0  # still 08:00 local
    # The old version is not offered any more, and cannot be changed again.
    assert client.post(f"/s/CUIHU/shifts/{first.id}", data={
        "code": "D", "name": "x", "times": "08:00–20:00"}).status_code == 409  # fmt: skip
    assert client.post(f"/s/CUIHU/shifts/{newest.id}/retire").status_code == 303
    assert core.template_for(site, post, "D") is None
