"""The supervisor's inbox and badge, the supervisor's day with reviews (D9), the targets
report (D2, D3, D11) and the duty settings page."""

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from dutypwa import escalation as clock
from dutypwa.dutylog import record_entry
from dutypwa.extensions import db
from dutypwa.findings import record_finding
from dutypwa.models import DEFAULT_SETTINGS, Escalation, FollowUp, Review, Site
from dutypwa.nonconformities import record_step
from tests.clock import CHINA, base_day_at
from tests.conftest import new_op_id

T0 = base_day_at(10)  # 10:00 in Shanghai on the base day (DUTYPWA_TEST_TODAY)
DAY = T0.astimezone(CHINA).date()
MIN = timedelta(minutes=1)
HTMX = {"HX-Request": "true"}


@pytest.fixture
def request_context(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def people(request_context, make_site, make_user):
    site = make_site(code="CUIHU")
    roles = ("staff", "supervisor", "director", "admin")
    return site, {role: make_user(role=role, sites=[site]) for role in roles}


@pytest.fixture
def at(frozen_clock):
    """Set the clock the views read: at(moment)."""
    return frozen_clock.move_to


@pytest.fixture(autouse=True)
def _at_t0(frozen_clock):
    """The run's frozen clock, at T0 (10:00 on the base day)."""
    frozen_clock.move_to(T0)


def finding_at(site, by, moment, severity="urgent", description="broken gate"):
    finding, _ = record_finding(
        site, by=by, op_id=new_op_id(), device_time=moment, received_at=moment,
        category="other", severity=severity, description=description,
    )  # fmt: skip
    db.session.commit()
    return finding


def entry_at(site, by, moment, kind="help", summary="water leak in 3-2-701"):
    entry, _ = record_entry(
        site, by=by, op_id=new_op_id(), device_time=moment, received_at=moment, kind=kind,
        summary=summary,
    )  # fmt: skip
    db.session.commit()
    return entry


# The inbox and its badge


def test_inbox_lists_escalations_and_overdue_items(people, client, login, at):
    site, users = people
    finding = finding_at(site, users["staff"], T0, description="gate will not close")
    entry = entry_at(site, users["staff"], T0, kind="repair", summary="resident locked out")
    not_due = finding_at(site, users["staff"], T0, severity="low", description="faded sign")
    at(T0 + timedelta(hours=2, minutes=5))
    login(users["supervisor"])
    response = client.get(f"/s/{site.code}/inbox")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    # The clock ran first: both overdue items are now before the supervisor.
    assert len(db.session.scalars(select(Escalation)).all()) == 2
    assert "gate will not close" in html and "resident locked out" in html
    assert "faded sign" not in html
    assert f"/s/{site.code}/log/{entry.id}" in html
    assert f"/s/{site.code}/findings/{finding.id}" in html
    assert f"/s/{site.code}/findings/{not_due.id}" not in html
    assert html.count(f'hx-post="/s/{site.code}/escalations/') == 2


def test_d11_an_emergency_comes_first_in_the_inbox(people, client, login, at):
    site, users = people
    finding_at(site, users["staff"], T0, description="gate will not close")  # due first
    entry_at(site, users["staff"], T0 + timedelta(hours=2, minutes=3), kind="emergency",
             summary="smoke in the B2 plant room")  # fmt: skip
    at(T0 + timedelta(hours=2, minutes=5))
    login(users["supervisor"])
    html = client.get(f"/s/{site.code}/inbox").get_data(as_text=True)
    assert html.index("smoke in the B2 plant room") < html.index("gate will not close")


def test_inbox_badge_counts_and_answers_304_while_they_stay_the_same(people, client, login, at):
    site, users = people
    finding_at(site, users["staff"], T0)
    at(T0 + timedelta(hours=1))
    login(users["supervisor"])
    url = f"/s/{site.code}/inbox/badge"
    first = client.get(url, headers=HTMX)
    assert first.status_code == 200 and first.headers["ETag"]
    html = first.get_data(as_text=True)
    assert 'data-count="escalations">0<' in html and 'data-count="overdue">0<' in html
    assert 'hx-trigger="every 15s"' in html
    same = client.get(url, headers={**HTMX, "If-None-Match": first.headers["ETag"]})
    assert same.status_code == 304 and same.get_data() == b""
    at(T0 + timedelta(hours=2, minutes=1))  # the finding is overdue and escalated now
    changed = client.get(url, headers={**HTMX, "If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200
    html = changed.get_data(as_text=True)
    assert 'data-count="escalations">1<' in html and 'data-count="overdue">1<' in html


def test_the_director_inbox_holds_the_director_level(people, client, login, at):
    site, users = people
    entry = entry_at(site, users["staff"], T0, kind="emergency", summary="fire alarm B2")
    at(T0 + 40 * MIN)
    login(users["director"])
    html = client.get(f"/s/{site.code}/inbox").get_data(as_text=True)
    assert "fire alarm B2" in html and "Not acknowledged in time" in html
    top = clock.timeline(entry=entry)[-1]
    response = client.post(
        f"/s/{site.code}/escalations/{top.id}/ack", data={"show": "inbox"}, headers=HTMX
    )
    assert response.status_code == 200
    badge = client.get(f"/s/{site.code}/inbox/badge", headers=HTMX).get_data(as_text=True)
    assert 'data-count="escalations">0<' in badge


def test_nav_polls_the_badge_for_managers_only(people, client, login):
    site, users = people
    login(users["supervisor"])
    html = client.get(f"/s/{site.code}/day").get_data(as_text=True)
    assert f'hx-get="/s/{site.code}/inbox/badge"' in html
    client.post("/logout")
    login(users["staff"])
    html = client.get(f"/s/{site.code}/patrol").get_data(as_text=True)
    assert "inbox/badge" not in html


# The supervisor's day (D9)


def test_d9_day_page_shows_the_days_records_and_everything_open(people, client, login, at):
    site, users = people
    today = entry_at(site, users["staff"], T0 - timedelta(hours=3), summary="lift noise")
    old = entry_at(site, users["staff"], T0 - timedelta(days=3), summary="old parcel")
    finding = finding_at(site, users["staff"], T0 - timedelta(hours=1))
    follow_up = FollowUp(site_id=site.id, entry_id=today.id, type="work_order",
                         number="WX-20261126-01", title="fix the lift door",
                         created_by_id=users["staff"].id)  # fmt: skip
    db.session.add(follow_up)
    db.session.commit()
    at(T0)
    login(users["supervisor"])
    response = client.get(f"/s/{site.code}/day")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'id="record-{today.id}"' in html and f'id="record-{old.id}"' not in html
    # Still open, so listed as open items whatever their day.
    assert f'id="open-entry-{old.id}"' in html
    assert f'id="open-finding-{finding.id}"' in html
    assert f'id="open-follow-up-{follow_up.id}"' in html and "WX-20261126-01" in html
    assert f'id="review-entry-{today.id}"' in html
    # Three local days before, in Shanghai, holds the old record.
    html = client.get(f"/s/{site.code}/day?day={DAY - timedelta(days=3)}").get_data(as_text=True)
    assert f'id="record-{old.id}"' in html and f'id="record-{today.id}"' not in html
    bad = client.get(f"/s/{site.code}/day?day=26.11.2026")
    assert bad.status_code == 422 and "Choose a date" in bad.get_data(as_text=True)


def test_d9_marking_reviewed_records_who_when_and_the_follow_up(people, client, login, at):
    site, users = people
    entry = entry_at(site, users["staff"], T0)
    finding = finding_at(site, users["staff"], T0)
    at(T0 + MIN)
    login(users["supervisor"])
    response = client.post(
        f"/s/{site.code}/reviews",
        data={"kind": "entry", "item_id": entry.id, "follow_up": "call the plumber today"},
        headers=HTMX,
    )
    assert response.status_code == 201
    html = response.get_data(as_text=True)
    assert f'id="review-entry-{entry.id}"' in html
    assert "call the plumber today" in html and users["supervisor"].display_name in html
    review = db.session.scalar(select(Review))
    assert (review.entry_id, review.reviewed_by_id) == (entry.id, users["supervisor"].id)
    assert (
        client.post(
            f"/s/{site.code}/reviews", data={"kind": "finding", "item_id": finding.id}, headers=HTMX
        ).status_code
        == 201
    )
    day = client.get(f"/s/{site.code}/day").get_data(as_text=True)
    assert day.count("Reviewed ✓") == 3  # the entry twice (day's record and open), the finding
    too_long = client.post(
        f"/s/{site.code}/reviews",
        data={"kind": "entry", "item_id": entry.id, "follow_up": "x" * 501},
        headers=HTMX,
    )
    assert too_long.status_code == 422 and "too long" in too_long.get_data(as_text=True)
    assert (
        client.post(
            f"/s/{site.code}/reviews", data={"kind": "shift", "item_id": "1"}, headers=HTMX
        ).status_code
        == 400
    )


def test_d9_reviews_stay_within_the_site(people, client, login, make_site, make_user):
    site, users = people
    other = make_site()
    entry = entry_at(other, make_user(sites=[other]), T0)
    login(users["supervisor"])
    response = client.post(
        f"/s/{site.code}/reviews", data={"kind": "entry", "item_id": entry.id}, headers=HTMX
    )
    assert response.status_code == 404
    assert db.session.scalar(select(Review)) is None


def test_day_page_lists_the_most_urgent_and_links_to_the_rest(people, client, login, at,
                                                              monkeypatch):  # fmt: skip
    from dutypwa import supervisor

    monkeypatch.setattr(supervisor, "DAY_LIMIT", 3)
    site, users = people
    findings = [
        finding_at(site, users["staff"], T0 + i * MIN, severity="low", description=f"item {i}")
        for i in range(5)
    ]
    urgent = finding_at(site, users["staff"], T0 + 30 * MIN, description="urgent one")
    at(T0 + timedelta(hours=1))
    login(users["supervisor"])
    html = client.get(f"/s/{site.code}/day").get_data(as_text=True)
    shown = [f for f in [urgent, *findings] if f'id="open-finding-{f.id}"' in html]
    assert shown == [urgent, findings[0], findings[1]]  # due first
    assert "All 6 open problems" in html


# The targets report


def test_targets_report_figures(people, client, login, at):
    site, users = people
    staff, supervisor = users["staff"], users["supervisor"]
    on_time = finding_at(site, staff, T0)
    late = finding_at(site, staff, T0)
    finding_at(site, staff, T0)  # never corrected: missed
    finding_at(site, staff, T0, severity="low")  # due in 7 days: pending
    for finding, minutes in ((on_time, 60), (late, 180)):
        record_step(finding, by=staff, op_id=new_op_id(), device_time=T0 + minutes * MIN,
                    received_at=T0 + minutes * MIN, action="correct", note="fixed")  # fmt: skip
    closed_entry = entry_at(site, staff, T0, kind="inquiry")  # 30 minutes to respond
    closed_entry.status, closed_entry.closed_at = "closed", T0 + 20 * MIN
    entry_at(site, staff, T0, kind="inquiry")  # left open: missed
    emergency = entry_at(site, staff, T0, kind="emergency")
    emergency.arrived_at = T0 + 25 * MIN
    late_emergency = entry_at(site, staff, T0, kind="emergency")
    late_emergency.arrived_at = T0 + 45 * MIN
    clock.acknowledge(clock.timeline(entry=emergency)[0], by=supervisor, at=T0 + 5 * MIN)
    db.session.commit()
    at(T0 + timedelta(hours=5))
    login(supervisor)
    response = client.get(f"/s/{site.code}/reports/targets?from={DAY}&to={DAY}")
    assert response.status_code == 200
    csv_response = client.get(f"/s/{site.code}/reports/targets.csv?from={DAY}&to={DAY}")
    assert csv_response.status_code == 200
    assert csv_response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(csv_response.get_data(as_text=True).lstrip("\ufeff"))))
    table = {(row[0], row[1]): row[2:] for row in rows[1:]}
    # met, late, missed, pending, percent
    assert table[("findings", "Urgent")] == ["1", "1", "1", "0", "33.3"]
    assert table[("findings", "Low")] == ["0", "0", "0", "1", ""]
    assert table[("entries", "Inquiry")] == ["1", "0", "1", "0", "50.0"]
    assert table[("emergencies", "Within 30 minutes")] == ["1", "1", "0", "0", "50.0"]
    # Before the supervisor: the emergency acknowledged in time (met); the other emergency,
    # the open inquiry and the urgent finding never corrected went up unacknowledged. The
    # two corrected findings waited for no one: corrected is not overdue.
    assert table[("escalations", "Supervisor")] == ["1", "0", "3", "0", "25.0"]
    assert table[("escalations", "Director")] == ["0", "0", "3", "0", "0.0"]
    html = response.get_data(as_text=True)
    assert "33.3%" in html


def test_targets_report_refuses_bad_periods(people, client, login):
    site, users = people
    login(users["director"])
    url = f"/s/{site.code}/reports/targets"
    for query, message in (
        ("?from=2026-12-01&to=2026-11-01", "start date is after"),
        ("?from=yesterday", "like 2026-11-26"),
        ("?from=2024-01-01&to=2026-01-01", "at most 366 days"),
    ):
        response = client.get(url + query)
        assert response.status_code == 422, query
        assert message in response.get_data(as_text=True)
    assert client.get(url).status_code == 200  # the last 30 days


def test_targets_report_counts_a_late_acknowledgement_as_late(people, client, login, at):
    site, users = people
    entry = entry_at(site, users["staff"], T0, kind="emergency")
    clock.advance(site, T0 + 16 * MIN)
    top = clock.timeline(entry=entry)[-1]
    clock.acknowledge(top, by=users["director"], at=top.ack_due + 10 * MIN)
    db.session.commit()
    at(T0 + timedelta(hours=2))
    login(users["director"])
    rows = client.get(f"/s/{site.code}/reports/targets.csv?from={DAY}&to={DAY}").get_data(
        as_text=True
    )
    assert "escalations,Director,0,1,0,0,0.0" in rows


# The duty settings


def settings_form(site, **changes):
    values = {f"category_{c}": "1" for c in DEFAULT_SETTINGS["categories"]}
    values.update(
        {f"position_{c}": str(i + 1) for i, c in enumerate(DEFAULT_SETTINGS["categories"])}
    )
    for key in ("due_hours", "respond_minutes", "ack_minutes"):
        values.update({f"{key}_{k}": str(v) for k, v in DEFAULT_SETTINGS[key].items()})
    for key in (
        "emergency_arrival_minutes",
        "repetition_count",
        "repetition_days",
        "roster_min_rest_hours",
        "roster_max_consecutive_days",
        "roster_overtime_cap_hours",
        "roster_request_notice_days",
        "comp_expiry_days",
    ):
        values[key] = str(DEFAULT_SETTINGS[key])
    values["roster_rest_severity"] = DEFAULT_SETTINGS["roster_rest_severity"]
    values.update({f"team_{t}": "1" for t in DEFAULT_SETTINGS["teams"]})
    values.update(night_start="20:00", night_end="08:00", other_teams="")
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def test_roster_settings_are_kept_and_checked(people, client, login):
    """The roster's rules per site (rest, R4 notice, R6 expiry) are set on the same page;
    a setting the page does not show survives a save."""
    site, users = people
    login(users["supervisor"])
    site.settings = {"comp_statutory_accrues_later": True}
    db.session.commit()
    bad = client.post(f"/s/{site.code}/settings", headers=HTMX,
                      data=settings_form(site, roster_min_rest_hours="99"))  # fmt: skip
    assert bad.status_code == 422 and "error-roster_min_rest_hours" in bad.get_data(as_text=True)
    saved = client.post(f"/s/{site.code}/settings", headers=HTMX, data=settings_form(
        site, roster_min_rest_hours="12", roster_rest_severity="hard",
        roster_request_notice_days="2", comp_allow_negative="1"))  # fmt: skip
    assert saved.status_code == 200
    settings = db.session.get(Site, site.id).settings
    assert settings == {"comp_statutory_accrues_later": True, "roster_min_rest_hours": 12,
                        "roster_rest_severity": "hard", "roster_request_notice_days": 2,
                        "comp_allow_negative": True}  # fmt: skip


def test_settings_store_only_what_changed(people, client, login):
    site, users = people
    login(users["supervisor"])
    page = client.get(f"/s/{site.code}/settings")
    assert page.status_code == 200 and 'name="due_hours_urgent" value="2"' in page.get_data(
        as_text=True
    )
    unchanged = client.post(f"/s/{site.code}/settings", data=settings_form(site), headers=HTMX)
    assert unchanged.status_code == 200 and "Settings saved" in unchanged.get_data(as_text=True)
    assert db.session.get(Site, site.id).settings == {}
    form = settings_form(
        site, due_hours_urgent="4", ack_minutes_3="20", position_other="0",
        category_discipline=None, other_teams="保安部\n 保安部 \n", team_security=None,
    )  # fmt: skip
    response = client.post(f"/s/{site.code}/settings", data=form, headers=HTMX)
    assert response.status_code == 200
    stored = db.session.get(Site, site.id)
    assert set(stored.settings) == {"due_hours", "ack_minutes", "categories", "teams"}
    assert stored.setting("due_hours") == {"urgent": 4, "normal": 24, "low": 168}
    assert stored.setting("ack_minutes") == {"2": 15, "3": 20}
    assert stored.setting("categories")[0] == "other"
    assert "discipline" not in stored.setting("categories")
    assert stored.setting("teams") == ["maintenance", "cleaning", "greening", "保安部"]
    assert stored.setting("night_start") == "20:00"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"due_hours_urgent": "0"}, "due_hours_urgent", "whole number from 1 to 2160"),
        ({"respond_minutes_emergency": "ten"}, "respond_minutes_emergency", "whole number"),
        ({"ack_minutes_2": ""}, "ack_minutes_2", "whole number from 1 to 1440"),
        ({"repetition_count": "1"}, "repetition_count", "from 2 to 50"),
        ({"night_start": "25:00"}, "night_start", "HH:MM"),
        ({"night_end": "20:00"}, "night_end", "same time"),
        ({f"category_{c}": None for c in DEFAULT_SETTINGS["categories"]}, "categories",
         "at least one category"),
        ({f"team_{t}": None for t in DEFAULT_SETTINGS["teams"]}, "teams", "at least one team"),
        ({"other_teams": "x" * 41}, "other_teams", "at most 40 characters"),
    ],
)  # fmt: skip
def test_settings_validation(people, client, login, changes, field, message):
    site, users = people
    login(users["director"])
    response = client.post(
        f"/s/{site.code}/settings", data=settings_form(site, **changes), headers=HTMX
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="error-{field}"' in html and message in html
    assert "nothing was saved" in html
    assert db.session.get(Site, site.id).settings == {}


def test_settings_change_the_clocks(people, client, login, at):
    site, users = people
    login(users["supervisor"])
    client.post(
        f"/s/{site.code}/settings", data=settings_form(site, ack_minutes_2="5"), headers=HTMX
    )
    entry = entry_at(site, users["staff"], T0, kind="emergency")
    clock.advance(site, T0 + 6 * MIN)
    assert [e.level for e in clock.timeline(entry=entry)] == [2, 3]


def test_d9_day_page_pages_the_records_and_reads_a_fixed_number_of_statements(
    people, client, login, at, monkeypatch
):
    """Every record of the day stays reachable, a page at a time, and the page reads the
    same few statements however many rows it shows (no query per row)."""
    from sqlalchemy import event

    from dutypwa import supervisor

    monkeypatch.setattr(supervisor, "RECORDS_PAGE", 2)
    site, users = people
    records = [
        entry_at(site, users["staff"], T0 - timedelta(hours=5 - i), summary=f"record {i}")
        for i in range(5)
    ]
    for i in range(3):
        finding_at(site, users["staff"], T0 - timedelta(hours=i), description=f"open {i}")
    at(T0)
    login(users["supervisor"])
    client.get(f"/s/{site.code}/day")  # the clock's first run escalates; not counted
    issued = []

    def count(*args):
        issued[-1] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    pages = []
    try:
        for number in (1, 2, 3):
            issued.append(0)
            pages.append(client.get(f"/s/{site.code}/day?page={number}"))
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert all(page.status_code == 200 for page in pages)
    html = [page.get_data(as_text=True) for page in pages]
    newest_first = list(reversed(records))
    for number, page in enumerate(html):
        shown = [r for r in newest_first if f'id="record-{r.id}"' in page]
        assert shown == newest_first[number * 2 : number * 2 + 2]
    assert "Next" in html[0] and "Previous" not in html[0]
    assert "Previous" in html[2] and "page=2" in html[2] and "Next" not in html[2]
    # The same few statements for each page, none per row.
    assert issued[1] == issued[2] <= 15, issued
