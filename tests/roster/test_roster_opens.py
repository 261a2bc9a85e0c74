"""The roster opens on the month the site is in now, in the site's own time zone (issue 11
§1.8: it opened on next month, which says "no roster for this month yet")."""

from datetime import UTC, datetime

import pytest
import time_machine


@pytest.mark.parametrize(
    ("now", "month"),
    [
        (datetime(2026, 12, 7, 10, 0, tzinfo=UTC), "2026-12"),
        # 31 December 16:30 UTC is already New Year's Day in Shanghai.
        (datetime(2026, 12, 31, 16, 30, tzinfo=UTC), "2027-01"),
        (datetime(2027, 2, 28, 15, 59, tzinfo=UTC), "2027-02"),
        (datetime(2027, 2, 28, 16, 0, tzinfo=UTC), "2027-03"),
    ],
)
def test_the_roster_opens_on_the_current_month_of_the_site(
    now, month, make_site, make_user, login, client
):
    site = make_site(code="CUIHU")
    login(make_user("supervisor", sites=[site]))
    with time_machine.travel(now, tick=False):  # own date: edges of a month and a year
        response = client.get("/s/CUIHU/roster")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/s/CUIHU/roster/{month}"


def test_staff_open_their_own_shifts(make_site, make_user, login, client):
    site = make_site(code="CUIHU")
    login(make_user("staff", sites=[site]))
    response = client.get("/s/CUIHU/roster")
    assert response.headers["Location"] == "/s/CUIHU/roster/mine"
