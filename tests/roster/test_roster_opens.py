"""The roster opens on the month the site is in now, in the site's own time zone (issue 11
§1.8: it opened on next month, which says "no roster for this month yet")."""

from datetime import datetime, time, timedelta

from tests.clock import CHINA


def test_the_roster_opens_on_the_current_month_of_the_site(
    frozen_clock, make_site, make_user, login, client
):
    site = make_site(code="CUIHU")  # Asia/Shanghai
    login(make_user("supervisor", sites=[site]))

    def opens() -> str:
        response = client.get("/s/CUIHU/roster")
        assert response.status_code == 302
        return response.headers["Location"]

    today = frozen_clock.today
    assert opens() == f"/s/CUIHU/roster/{today:%Y-%m}"
    # Midnight in Shanghai starts the next month while UTC is still on the last day.
    following = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    midnight = datetime.combine(following, time(0, 0), CHINA)
    frozen_clock.move_to(midnight - timedelta(minutes=1))
    assert opens() == f"/s/CUIHU/roster/{today:%Y-%m}"
    frozen_clock.move_to(midnight)
    assert opens() == f"/s/CUIHU/roster/{following:%Y-%m}"


def test_staff_open_their_own_shifts(make_site, make_user, login, client):
    site = make_site(code="CUIHU")
    login(make_user("staff", sites=[site]))
    assert client.get("/s/CUIHU/roster").headers["Location"] == "/s/CUIHU/roster/mine"
