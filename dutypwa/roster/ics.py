"""Calendar feeds (issue 6; design d-11): a person's published shifts as iCalendar, for a
phone to subscribe to through a secret link or to import month by month. Phones refresh a
feed when they please (Google every 8–24 h), so the feed mirrors the roster and never
announces a change: the roster in the app is the authority.

One VEVENT per segment, so a split shift shows its break. A UID comes from the entry's id
and never changes; SEQUENCE is the entry's `ical_sequence`, which the roster bumps with
every change (roster/core.py), and a replaced or cancelled shift stays in the feed as
CANCELLED for a while so that phones remove it.
"""

import secrets
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from icalendar import Calendar, Event, vDuration
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from dutypwa.extensions import db
from dutypwa.models import CalendarFeed, RosterEntry, RosterMonth, Site, User, utcnow
from dutypwa.models.calendar_feed import token_digest

# The feed's window: what a person looks back on and plans ahead with (Infor: 42 days).
WINDOW_BEFORE = timedelta(days=14)
WINDOW_AFTER = timedelta(days=45)
# A replaced or cancelled shift is sent as CANCELLED for this long after the change, long
# enough for phones that refresh once a day; then it is left out.
CANCELLED_KEPT = timedelta(days=2)
# The feed asks to be fetched hourly (RFC 7986 REFRESH-INTERVAL, and Outlook's
# X-PUBLISHED-TTL); clients are free to fetch less often, and Google does.
REFRESH = timedelta(hours=1)
UID_DOMAIN = "dutypwa"
PRODID = "-//dutypwa//roster//ZH"


# The secret link


def create_feed(user: User) -> tuple[CalendarFeed, str]:
    """A new feed for `user`, revoking any earlier one (its link stops working). Returns
    the feed and its secret, which is shown once and stored only as a hash."""
    revoke_feeds(user)
    token = secrets.token_urlsafe(32)
    feed = CalendarFeed(user_id=user.id, token_hash=token_digest(token))
    db.session.add(feed)
    db.session.flush()
    return feed, token


def revoke_feeds(user: User, now: datetime | None = None) -> int:
    """Stop every active link of `user`; returns how many were active."""
    now = now or utcnow()
    active = db.session.scalars(
        select(CalendarFeed).where(
            CalendarFeed.user_id == user.id, CalendarFeed.revoked_at.is_(None)
        )
    ).all()
    for feed in active:
        feed.revoked_at = now
    db.session.flush()
    return len(active)


def active_feed(user: User) -> CalendarFeed | None:
    return db.session.scalar(
        select(CalendarFeed)
        .where(CalendarFeed.user_id == user.id, CalendarFeed.revoked_at.is_(None))
        .order_by(CalendarFeed.created_at.desc())
        .limit(1)
    )


def feed_for(token: str) -> CalendarFeed | None:
    """The active feed with this secret, or None (unknown, revoked, or its person can no
    longer log in)."""
    feed = db.session.scalar(
        select(CalendarFeed).where(CalendarFeed.token_hash == token_digest(token))
    )
    if feed is None or not feed.active or not feed.user.active:
        return None
    return feed


# Which shifts


def _published(user: User):
    return (
        select(RosterEntry)
        .join(RosterMonth, RosterEntry.month_id == RosterMonth.id)
        .where(RosterEntry.user_id == user.id, RosterMonth.status == "published")
        .options(selectinload(RosterEntry.template), selectinload(RosterEntry.post))
        .order_by(RosterEntry.start_at, RosterEntry.id)
    )


def feed_entries(user: User, now: datetime) -> list[RosterEntry]:
    """The person's published shifts that touch [now − 14 days, now + 45 days) at the sites
    they belong to: planned ones, and replaced or cancelled ones changed recently."""
    query = _published(user).where(
        RosterEntry.site_id.in_([site.id for site in user.sites]),
        RosterEntry.start_at < now + WINDOW_AFTER,
        RosterEntry.end_at > now - WINDOW_BEFORE,
        or_(RosterEntry.status == "planned", RosterEntry.updated_at >= now - CANCELLED_KEPT),
    )
    return list(db.session.scalars(query))


def month_entries(user: User, month: RosterMonth) -> list[RosterEntry]:
    """The person's planned shifts of a published month (a one-off import has nothing to
    cancel)."""
    query = _published(user).where(
        RosterEntry.month_id == month.id, RosterEntry.status == "planned"
    )
    return list(db.session.scalars(query))


# The calendar


def event_uid(entry: RosterEntry, number: int) -> str:
    """Segment `number` (from 1) of the entry. An entry's segments never change in place
    (a different shift is a new entry, roster/core.py), so neither do its UIDs."""
    return f"{entry.id}-{number}@{UID_DOMAIN}"


def summary(entry: RosterEntry) -> str:
    """夜班 · 客户服务中心: the shift, then the post."""
    return f"{entry.template.name} · {entry.post.name}"


def build_calendar(
    entries: Iterable[RosterEntry],
    *,
    user: User,
    sites: dict[int, Site],
    zone: str,
    uid: str,
) -> bytes:
    """The entries as an iCalendar file, in the person's language: CRLF lines folded at 75
    octets by icalendar, times with TZID and the VTIMEZONEs they need.

    DTSTAMP is the entry's last change, as RFC 5545 §3.8.7.2 asks of a calendar without a
    METHOD; so the file only changes when a shift does, and an ETag can say so.
    """
    with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        calendar = Calendar.new(
            prodid=PRODID,
            uid=uid,
            name=_("Duty · %(name)s", name=user.display_name),
            description=_("The roster in the app is the authority."),
            refresh_interval=REFRESH,
        )
        # RFC 7986 §5.7 requires VALUE=DURATION; MIUI refuses the feed without it.
        calendar["REFRESH-INTERVAL"].params["VALUE"] = "DURATION"
        calendar.add("X-PUBLISHED-TTL", vDuration(REFRESH))
        calendar.add("X-WR-TIMEZONE", zone)
        span: list[date] = []
        for entry in entries:
            site = sites[entry.site_id]
            for event in _events(entry, site):
                calendar.add_component(event)
                span += [event.start.date(), event.end.date()]
    if span:
        # The rules of the years shown, not the zone's whole history; whole years, so
        # that the VTIMEZONE stays the same from one fetch to the next.
        calendar.add_missing_timezones(
            first_date=date(min(span).year, 1, 1), last_date=date(max(span).year + 1, 1, 1)
        )
    return calendar.to_ical()


def _events(entry: RosterEntry, site: Site) -> list[Event]:
    tz = ZoneInfo(site.timezone)
    cancelled = entry.status != "planned"
    times = entry.times
    events = []
    for number, (start, end) in enumerate(times, start=1):
        lines = [_("Duty date %(day)s", day=entry.duty_date.isoformat())]
        if len(times) > 1:
            lines.append(_("Part %(number)d of %(count)d", number=number, count=len(times)))
        if cancelled:
            lines.append(_("No longer on the roster."))
        events.append(
            Event.new(
                uid=event_uid(entry, number),
                sequence=entry.ical_sequence,
                stamp=entry.updated_at,
                last_modified=entry.updated_at,
                created=entry.created_at,
                start=start.astimezone(tz),
                end=end.astimezone(tz),
                summary=summary(entry),
                location=site.name,
                description="\n".join(lines),
                status="CANCELLED" if cancelled else "CONFIRMED",
            )
        )
    return events


def person_feed(user: User, now: datetime | None = None) -> bytes:
    """The subscribed feed: the window around now, at every site of the person."""
    sites = {site.id: site for site in user.sites}
    zones = {site.timezone for site in sites.values()}
    zone = zones.pop() if len(zones) == 1 else current_app.config["BABEL_DEFAULT_TIMEZONE"]
    entries = feed_entries(user, now or utcnow())
    return build_calendar(
        entries, user=user, sites=sites, zone=zone, uid=f"roster-{user.id}@{UID_DOMAIN}"
    )


def month_file(user: User, month: RosterMonth) -> bytes:
    """One published month of one site, for a phone that imports instead of subscribing."""
    site = month.site
    return build_calendar(
        month_entries(user, month),
        user=user,
        sites={site.id: site},
        zone=site.timezone,
        uid=f"roster-{user.id}-{site.code}-{month.month}@{UID_DOMAIN}",
    )
