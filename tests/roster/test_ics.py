"""Shifts in the phone's calendar (design d-11, tests e-12): the feed parses with
icalendar, its lines are CRLF and folded at 75 octets, its refresh interval is a valid
RFC 5545 duration, UIDs stay and SEQUENCE rises with a change, only published shifts in
the window are sent, a new link stops the old one, and a night shift ends the next day.
Entries are made directly with the models, as the roster (roster/core.py) makes them."""

import hashlib
import html
import re
import uuid
from datetime import date, datetime, timedelta

import icalendar
import pytest
from sqlalchemy import select

from dutypwa.extensions import db
from dutypwa.models import CalendarFeed, RosterEntry, RosterMonth, ShiftTemplate, utcnow
from dutypwa.roster import ics
from dutypwa.roster.times import SHANGHAI, segment_times

HTMX = {"HX-Request": "true"}
FEED_URL = re.compile(r"https://duty\.example\.test/ics/([A-Za-z0-9_-]{40,})\.ics")
# RFC 5545 §3.3.6 dur-value; `P1H` (no T) is the mistake that makes MIUI refuse a feed.
DURATION = re.compile(
    r"[+-]?P(?:\d+W|\d+D(?:T(?:\d+H(?:\d+M(?:\d+S)?)?|\d+M(?:\d+S)?|\d+S))?"
    r"|T(?:\d+H(?:\d+M(?:\d+S)?)?|\d+M(?:\d+S)?|\d+S))"
)


@pytest.fixture
def site(make_site):
    return make_site(name="阳光花园管理处")


@pytest.fixture
def post(make_post, site):
    return make_post(site, name="客户服务中心")


@pytest.fixture
def person(make_user, site):
    """The feed speaks the person's language (Chinese by default); tests read English."""
    user = make_user("staff", sites=[site])
    user.locale = "en"
    db.session.commit()
    return user


@pytest.fixture
def shift(site):
    """A template factory: name and segments in minutes from the duty date's midnight."""

    def make(name="白班", segments=((480, 1200),), code="D"):
        template = ShiftTemplate(site_id=site.id, code=code, name=name, segments=segments)
        db.session.add(template)
        db.session.commit()
        return template

    return make


@pytest.fixture
def entry(site, post, person, shift):
    """An entry in the month of its duty date (made, published by default, if missing)."""

    def make(day, template=None, user=None, status="planned", month_status="published",
             sequence=0, updated_at=None, at=None):  # fmt: skip
        at = at or site
        template = template or shift()
        month = db.session.scalar(
            select(RosterMonth).where(
                RosterMonth.site_id == at.id, RosterMonth.month == day.strftime("%Y-%m")
            )
        )
        if month is None:
            month = RosterMonth(site_id=at.id, month=day.strftime("%Y-%m"), status=month_status)
            db.session.add(month)
            db.session.flush()
        times = segment_times(template.minutes, day, SHANGHAI)
        row = RosterEntry(
            id=str(uuid.uuid4()),
            month_id=month.id,
            site_id=at.id,
            user_id=(user or person).id,
            post_id=post.id,
            template_id=template.id,
            duty_date=day,
            start_at=times[0][0],
            end_at=times[-1][1],
            segments=[[start.isoformat(), end.isoformat()] for start, end in times],
            status=status,
            ical_sequence=sequence,
            updated_at=updated_at or utcnow(),
        )
        db.session.add(row)
        db.session.commit()
        return row

    return make


@pytest.fixture
def today(site) -> date:
    return site.now().date()


@pytest.fixture
def feed_url(person):
    _feed, token = ics.create_feed(person)
    db.session.commit()
    return f"/ics/{token}.ics"


def fetch(client, url) -> icalendar.Calendar:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return icalendar.Calendar.from_ical(response.data)


def text_of(response) -> str:
    """The page's text with its HTML entities read (an apostrophe is &#39;)."""
    return html.unescape(response.get_data(as_text=True))


def events(calendar: icalendar.Calendar) -> dict[str, icalendar.Event]:
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def test_e12_1_the_feed_parses_and_every_event_has_uid_stamp_sequence_and_zoned_times(
    client, entry, shift, today, feed_url, person
):
    """e-12 1: from_ical reads the feed; every VEVENT has UID, DTSTAMP, SEQUENCE and a
    DTSTART and DTEND in Asia/Shanghai, defined by a VTIMEZONE."""
    first = entry(today + timedelta(days=1), sequence=3)
    entry(today + timedelta(days=2), template=shift("中班", ((960, 1440),), code="M"))
    response = client.get(feed_url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Cache-Control"] == "private, max-age=900"
    calendar = icalendar.Calendar.from_ical(response.data)
    found = events(calendar)
    assert len(found) == 2
    for event in found.values():
        for name in ("UID", "DTSTAMP", "SEQUENCE", "DTSTART", "DTEND"):
            assert name in event, name
        assert event["DTSTART"].params["TZID"] == "Asia/Shanghai"
        assert event["DTEND"].params["TZID"] == "Asia/Shanghai"
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Asia/Shanghai"]
    assert calendar["X-WR-TIMEZONE"] == "Asia/Shanghai"
    event = found[f"{first.id}-1@dutypwa"]
    assert event["SEQUENCE"] == 3
    assert event["SUMMARY"] == "白班 · 客户服务中心"
    assert event["LOCATION"] == "阳光花园管理处"
    assert event["STATUS"] == "CONFIRMED"
    assert event.start == datetime.combine(first.duty_date, datetime.min.time(), SHANGHAI) + (
        timedelta(hours=8)
    )
    assert event["LAST-MODIFIED"].dt == first.updated_at.replace(microsecond=0)
    assert calendar["X-WR-CALNAME"] == f"Duty · {person.display_name}"


def test_e12_2_lines_are_crlf_and_folded_at_75_octets_without_splitting_a_character(
    client, entry, shift, today, feed_url
):
    """e-12 2: CRLF line ends, no line over 75 octets, and a long Chinese summary folded
    between characters, reading back whole."""
    long_name = "节假日加强值班（春节、国庆）白班"
    entry(today + timedelta(days=3), template=shift(long_name))
    data = client.get(feed_url).data
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    lines = data.split(b"\r\n")[:-1]
    assert max(len(line) for line in lines) <= 75
    for line in lines:
        line.decode("utf-8")  # a split character would not decode
    start = next(i for i, line in enumerate(lines) if line.startswith(b"SUMMARY:"))
    assert lines[start + 1].startswith(b" "), "the summary is long enough to be folded"
    summary = icalendar.Calendar.from_ical(data).walk("VEVENT")[0]["SUMMARY"]
    assert summary == f"{long_name} · 客户服务中心"
    assert len(f"SUMMARY:{summary}".encode()) > 75


def test_e12_3_the_refresh_interval_is_an_rfc5545_duration(client, feed_url):
    """e-12 3: REFRESH-INTERVAL;VALUE=DURATION:PT1H, and X-PUBLISHED-TTL, match the
    RFC 5545 duration grammar (which refuses MIUI's nemesis P1H)."""
    assert not DURATION.fullmatch("P1H") and not DURATION.fullmatch("1:00:00")
    assert DURATION.fullmatch("PT1H") and DURATION.fullmatch("P1DT12H")
    text = client.get(feed_url).get_data(as_text=True)
    refresh = re.search(r"^REFRESH-INTERVAL;VALUE=DURATION:(.*)\r$", text, re.M)
    ttl = re.search(r"^X-PUBLISHED-TTL:(.*)\r$", text, re.M)
    assert refresh and DURATION.fullmatch(refresh[1]) and refresh[1] == "PT1H"
    assert ttl and DURATION.fullmatch(ttl[1]) and ttl[1] == "PT1H"


def test_e12_4_uids_stay_and_a_change_raises_the_sequence(
    client, entry, shift, today, feed_url, make_user, site, post
):
    """e-12 4: two generations without a change give the same UIDs (the same file, even);
    a changed shift keeps its UID with SEQUENCE + 1; after a swap (R4) the replaced
    entry is sent CANCELLED with SEQUENCE + 1 and the substitute's shift is new in theirs."""
    kept = entry(today + timedelta(days=1))
    swapped = entry(today + timedelta(days=2))
    first, second = client.get(feed_url), client.get(feed_url)
    assert first.data == second.data
    before = events(icalendar.Calendar.from_ical(first.data))
    assert set(before) == {f"{kept.id}-1@dutypwa", f"{swapped.id}-1@dutypwa"}
    assert {e["SEQUENCE"] for e in before.values()} == {0}

    # What the roster does (roster/core.py): a change to an entry bumps it; a swap marks
    # the old entry replaced (bumped too) and adds one for the substitute.
    later = utcnow().replace(microsecond=0)  # iCalendar times have whole seconds
    kept.ical_sequence, kept.updated_at = 1, later
    swapped.status, swapped.ical_sequence, swapped.updated_at = "replaced", 1, later
    substitute = make_user("staff", sites=[site])
    new = entry(swapped.duty_date, user=substitute)
    db.session.commit()

    after = events(fetch(client, feed_url))
    assert set(after) == set(before)
    assert after[f"{kept.id}-1@dutypwa"]["SEQUENCE"] == 1
    assert after[f"{kept.id}-1@dutypwa"]["STATUS"] == "CONFIRMED"
    cancelled = after[f"{swapped.id}-1@dutypwa"]
    assert cancelled["SEQUENCE"] == 1 and cancelled["STATUS"] == "CANCELLED"
    assert cancelled["DTSTAMP"].dt == cancelled["LAST-MODIFIED"].dt == later
    _feed, token = ics.create_feed(substitute)
    db.session.commit()
    assert set(events(fetch(client, f"/ics/{token}.ics"))) == {f"{new.id}-1@dutypwa"}


def test_e12_4_a_cancelled_shift_is_dropped_after_the_refresh_window(
    client, entry, today, feed_url
):
    """e-12 4: CANCELLED for a while (phones that refresh daily remove it), then gone."""
    recent = entry(today + timedelta(days=1), status="cancelled", sequence=2)
    old = entry(today + timedelta(days=2), status="replaced", sequence=1,
                updated_at=utcnow() - ics.CANCELLED_KEPT - timedelta(hours=1))  # fmt: skip
    found = events(fetch(client, feed_url))
    assert set(found) == {f"{recent.id}-1@dutypwa"}
    assert found[f"{recent.id}-1@dutypwa"]["STATUS"] == "CANCELLED"
    assert "No longer on the roster." in str(found[f"{recent.id}-1@dutypwa"]["DESCRIPTION"])
    assert old.status == "replaced"


def test_e12_5_r1_only_published_shifts_in_the_window(
    client, entry, today, feed_url, make_site, make_user, site, person
):
    """e-12 5, R1: a draft month's shifts stay off the phone, and so do shifts outside
    −14 … +45 days, other people's, and those of a site the person has left."""
    inside = [
        entry(today - timedelta(days=13)),
        entry(today),
        entry(today + timedelta(days=44)),
    ]
    entry(today - timedelta(days=16))  # ended before the window
    entry(today + timedelta(days=46))  # starts after it
    entry(today + timedelta(days=1), user=make_user("staff", sites=[site]))
    draft_site = make_site()
    person.sites.append(draft_site)
    db.session.commit()
    entry(today + timedelta(days=1), at=draft_site, month_status="draft")
    left_site = make_site()
    person.sites.append(left_site)
    db.session.commit()
    entry(today + timedelta(days=5), at=left_site)
    assert len(fetch(client, feed_url).walk("VEVENT")) == 4

    person.sites.remove(left_site)
    db.session.commit()
    assert set(events(fetch(client, feed_url))) == {f"{e.id}-1@dutypwa" for e in inside}


def test_e12_5_a_new_link_stops_the_old_one(client, login, person, site, entry, today):
    """e-12 5: regenerating the link makes the old URL 404; stopping it too; only the
    hash of the secret is stored."""
    entry(today + timedelta(days=1))
    login(person)
    page = f"/s/{site.code}/roster/calendar"
    first = FEED_URL.search(client.post(f"{page}/feed").get_data(as_text=True))[1]
    assert client.get(f"/ics/{first}.ics").status_code == 200
    second = FEED_URL.search(client.post(f"{page}/feed").get_data(as_text=True))[1]
    assert second != first
    assert client.get(f"/ics/{first}.ics").status_code == 404
    assert client.get(f"/ics/{second}.ics").status_code == 200
    stored = db.session.scalars(select(CalendarFeed.token_hash)).all()
    assert hashlib.sha256(second.encode()).hexdigest() in stored
    assert second not in stored and first not in stored

    revoked = client.post(f"{page}/feed/revoke")
    assert revoked.status_code == 303 and revoked.location.endswith(page)
    assert client.get(f"/ics/{second}.ics").status_code == 404
    assert client.get("/ics/no-such-secret.ics").status_code == 404


def test_a_person_who_can_no_longer_log_in_has_no_feed(client, person, feed_url):
    assert client.get(feed_url).status_code == 200
    person.active = False
    db.session.commit()
    assert client.get(feed_url).status_code == 404


def test_e12_6_a_night_shift_ends_on_the_next_day(client, entry, shift, today, feed_url):
    """e-12 6: 20:00–08:00 on its duty date ends at 08:00 the next calendar day."""
    night = entry(today + timedelta(days=2), template=shift("夜班", ((1200, 1920),), code="N"))
    event = events(fetch(client, feed_url))[f"{night.id}-1@dutypwa"]
    assert event.start.date() == night.duty_date and event.start.hour == 20
    assert event.end.date() == night.duty_date + timedelta(days=1) and event.end.hour == 8
    assert str(event.end.tzinfo) == "Asia/Shanghai"


def test_a_split_shift_is_one_event_per_segment(client, entry, shift, today, feed_url):
    """R2: 09:00–11:30 + 14:00–17:00 shows its break on the phone: two events, each with
    its own stable UID, saying which part it is."""
    split = entry(today + timedelta(days=1), template=shift("节假日班", ((540, 690), (840, 1020))))
    found = events(fetch(client, feed_url))
    morning, afternoon = found[f"{split.id}-1@dutypwa"], found[f"{split.id}-2@dutypwa"]
    assert (morning.start.hour, morning.start.minute, morning.end.hour) == (9, 0, 11)
    assert (afternoon.start.hour, afternoon.end.hour) == (14, 17)
    assert "Part 2 of 2" in str(afternoon["DESCRIPTION"])


def test_an_unchanged_feed_answers_304(client, entry, today, feed_url):
    entry(today + timedelta(days=1))
    etag = client.get(feed_url).headers["ETag"]
    again = client.get(feed_url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""


# The page and the month file


def test_the_page_says_the_app_is_the_authority_and_shows_the_link_once(
    client, login, person, site
):
    login(person)
    text = text_of(client.get(f"/s/{site.code}/roster/calendar"))
    assert (
        "Your phone's calendar may lag by hours; the roster in this app is the authority." in text
    )
    assert "You have no calendar link." in text and "Make a calendar link" in text

    made = client.post(f"/s/{site.code}/roster/calendar/feed")
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    text = made.get_data(as_text=True)
    token = FEED_URL.search(text)[1]
    assert f'href="webcal://duty.example.test/ics/{token}.ics"' in text
    assert "shown only this once" in text

    again = client.get(f"/s/{site.code}/roster/calendar").get_data(as_text=True)
    assert token not in again
    assert "You have a calendar link, made" in again and "Stop the link" in again


def test_htmx_buttons_swap_only_the_link_section(client, login, person, site):
    login(person)
    made = client.post(f"/s/{site.code}/roster/calendar/feed", headers=HTMX)
    text = made.get_data(as_text=True)
    assert '<section class="card stack calendar-feed" id="calendar-feed">' in text
    assert "<html" not in text and FEED_URL.search(text)
    stopped = client.post(f"/s/{site.code}/roster/calendar/feed/revoke", headers=HTMX)
    assert stopped.status_code == 200 and "You have no calendar link." in stopped.get_data(
        as_text=True
    )
    assert ics.active_feed(person) is None


def test_every_person_finds_the_page_in_the_more_menu(client, login, person, site):
    login(person)
    text = client.get(f"/s/{site.code}/roster/calendar").get_data(as_text=True)
    menu = text.split('<div class="more-links">')[1].split("</div>")[0]
    assert f'href="/s/{site.code}/roster/calendar"' in menu
    assert "/admin/holidays" not in menu  # a manager's page stays a manager's


def test_r1_a_published_month_downloads_as_a_file(
    client, login, person, site, entry, make_user, today
):
    """R1: a published month as an .ics attachment, the person's own planned shifts only."""
    first_of_month = today.replace(day=1)
    mine = entry(first_of_month)
    entry(first_of_month + timedelta(days=1), status="replaced")
    entry(first_of_month, user=make_user("staff", sites=[site]))
    login(person)
    month = first_of_month.strftime("%Y-%m")
    response = client.get(f"/s/{site.code}/roster/{month}.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="roster-{site.code}-{month}.ics"'
    )
    calendar = icalendar.Calendar.from_ical(response.data)
    assert set(events(calendar)) == {f"{mine.id}-1@dutypwa"}
    page = client.get(f"/s/{site.code}/roster/calendar").get_data(as_text=True)
    assert f'href="/s/{site.code}/roster/{month}.ics"' in page


def test_r1_an_unpublished_month_is_not_offered(client, login, person, site, entry, today):
    day = today.replace(day=1) + timedelta(days=40)
    entry(day, month_status="draft")
    login(person)
    month = day.strftime("%Y-%m")
    assert client.get(f"/s/{site.code}/roster/{month}.ics").status_code == 404
    assert client.get(f"/s/{site.code}/roster/2026-13.ics").status_code == 404
    page = text_of(client.get(f"/s/{site.code}/roster/calendar"))
    assert f"{month}.ics" not in page and "No month of this site's roster" in page
