"""What the roster's database tests share: English sentences, the service centre that is
never unstaffed (R5), the gate, the supervisor and the director. Each test module keeps its
own `site` (its holidays and shifts) and `people`."""

import pytest

from dutypwa.extensions import db


@pytest.fixture(autouse=True)
def _frozen(frozen_clock):
    """Every roster test runs on the run's frozen clock (DUTYPWA_TEST_TODAY moves it): what
    is past and locked, this month and this year follow the setting."""
    return frozen_clock


@pytest.fixture
def english(app):
    """Refusals are sentences for a person: English here (`usefixtures("english")`)."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def centre(site, make_post):
    post = make_post(site, name="客户服务中心")
    post.never_unstaffed = True  # R5
    db.session.commit()
    return post


@pytest.fixture
def gate(site, make_post):
    return make_post(site, name="正门岗")


@pytest.fixture
def supervisor(site, make_user):
    return make_user("supervisor", sites=[site], name="李娜")


@pytest.fixture
def director(site, make_user):
    return make_user("director", sites=[site], name="王强")
