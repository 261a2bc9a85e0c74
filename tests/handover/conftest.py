"""What the handover tests share: the customer-service post with a torch and radios, the
night person on duty there, the day person who relieves them, and a supervisor."""

from datetime import timedelta

import pytest

from dutypwa.extensions import db
from dutypwa.models import PostDuty

INVENTORY = [{"name": "手电筒", "count": 2}, {"name": "对讲机", "count": 3}]
SIGNATURE = "M 10 10 L 40 30 L 80 12"


@pytest.fixture(autouse=True)
def _frozen(frozen_clock):
    """Every handover test runs on the run's frozen clock (DUTYPWA_TEST_TODAY moves it)."""
    return frozen_clock


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU")


@pytest.fixture
def post(site, make_post):
    return make_post(site, name="客户服务中心", inventory=INVENTORY)


@pytest.fixture
def night(site, make_user):
    return make_user("staff", sites=[site], name="刘芳", pin="1234")


@pytest.fixture
def day(site, make_user):
    return make_user("staff", sites=[site], name="张伟", pin="5678")


@pytest.fixture
def supervisor(site, make_user):
    return make_user("supervisor", sites=[site], name="李娜", pin="2468")


def on_duty(post, person, until):
    """`person` holds the post for the 12 hours up to `until`."""
    duty = db.session.get(PostDuty, post.id) or PostDuty(post_id=post.id, site_id=post.site_id)
    duty.person_id, duty.since, duty.due_until = person.id, until - timedelta(hours=12), until
    db.session.add(duty)
    db.session.commit()
