"""Shift handover on a shared tablet (交接班, rules H1–H12): the station credential, PINs
with a lockout kept in the database, and the handover's steps as append-only facts.

The rule table is handover_rules; this module applies it. Functions add and flush, the
views and the sync API commit.
"""

import hashlib
import re
import secrets
import uuid
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from dutypwa.dutylog.entries import record_entry_step
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.facts import device_clock, moment_of, payload_hash
from dutypwa.findings.core import record_finding
from dutypwa.handover_rules import TAKER, State, lateness, refusal
from dutypwa.models import (
    MANAGERS,
    MAX_PHOTOS,
    DutyEntry,
    Handover,
    HandoverEvent,
    Post,
    PostDuty,
    RosterEntry,
    RosterMonth,
    Site,
    Station,
    User,
    utcnow,
)

PIN_TRIES = 5
# H1: a relief this long before a rostered shift's start is arriving for that shift.
ROSTER_EARLY = timedelta(hours=2)
PIN_LOCKOUT = timedelta(minutes=10)
# H9: open duty-log work of these kinds at the post may not be handed over.
IMPORTANT_KINDS = ("emergency", "incident", "help")
CONDITIONS = ("ok", "damaged", "missing")
CONDITION_LABELS = {"ok": _l("in order"), "damaged": _l("damaged"), "missing": _l("missing")}
# A signature is the SVG path the tablet drew: moves, lines and numbers only.
SIGNATURE = re.compile(r"^[MLml0-9 .,\-]{10,20000}$")


# Stations


def enrol_station(post: Post, *, by: User, name: str) -> tuple[Station, str]:
    """A new station for the post; returns it and the credential for its cookie (shown
    once, stored only as a hash)."""
    name = name.strip()[:60] or post.name
    token = secrets.token_urlsafe(32)
    station = Station(
        site_id=post.site_id,
        post_id=post.id,
        name=name,
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        enrolled_by_id=by.id,
    )
    db.session.add(station)
    db.session.flush()
    return station, token


def station_for(token: str | None) -> Station | None:
    if not token:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()
    station = db.session.scalar(select(Station).where(Station.token_hash == digest))
    if station is None or not station.active:
        return None
    return station


# PINs


def check_pin(user: User, pin: str, now: datetime) -> None:
    """The person's PIN, or a DomainError. Wrong PINs are counted in the database, so the
    lockout holds across workers and restarts; the PIN_TRIES-th locks the person out."""
    if user.pin_locked_until is not None and user.pin_locked_until > now:
        # Rounded up: 10 minutes left reads "10", not "11" (a frozen test clock shows it).
        minutes = -int((now - user.pin_locked_until).total_seconds() // 60)
        raise DomainError(
            _("Too many wrong PINs. %(name)s can try again in %(n)d minutes.",
              name=user.display_name, n=minutes),
            429,
        )  # fmt: skip
    if not user.pin_hash:
        raise DomainError(_("%(name)s has no PIN yet; a supervisor sets it.",
                            name=user.display_name), 403)  # fmt: skip
    if user.check_pin(pin):
        if user.pin_failures:
            user.pin_failures = 0
            user.pin_locked_until = None
        return
    # Counted in SQL, not in Python: two wrong tries at once on two workers count twice.
    failures = db.session.execute(
        update(User)
        .where(User.id == user.id)
        .values(pin_failures=User.pin_failures + 1)
        .returning(User.pin_failures)
    ).scalar_one()
    if failures >= PIN_TRIES:
        db.session.execute(
            update(User)
            .where(User.id == user.id)
            .values(pin_failures=0, pin_locked_until=now + PIN_LOCKOUT)
        )
        db.session.refresh(user)
        raise DomainError(
            _("Too many wrong PINs. %(name)s can try again in %(n)d minutes.",
              name=user.display_name, n=int(PIN_LOCKOUT.total_seconds() // 60)),
            429,
        )  # fmt: skip
    db.session.refresh(user)
    raise DomainError(_("Wrong PIN. %(n)d tries left.", n=PIN_TRIES - failures), 403)


# Shift times


def shift_changes(post: Post, site: Site, around: datetime) -> list[datetime]:
    """The post's shift changes (UTC) from the day before `around` to the day after."""
    local_day = around.astimezone(site.tz).date()
    moments = []
    for offset in (-1, 0, 1, 2):
        day = local_day + timedelta(days=offset)
        for text in post.shift_changes or []:
            moments.append(_at(site, day, text))
    return sorted(moments)


def _at(site: Site, day: date, text: str) -> datetime:
    hours, minutes = (int(part) for part in text.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=site.tz).astimezone(UTC)


def shift_start_for(post: Post, site: Site, arrived: datetime) -> datetime:
    """The shift an arrival is for: the nearest change, so a relief who comes early is
    for the coming shift and one who comes late for the one that began (H1, H11)."""
    changes = shift_changes(post, site, arrived)
    if not changes:
        return arrived
    return min(changes, key=lambda moment: abs(moment - arrived))


def shift_for(
    post: Post, site: Site, person: User, arrived: datetime, duty: PostDuty | None = None
) -> datetime:
    """H1, H11: the start of the shift a relief arriving at `arrived` is for — what their
    lateness is measured against. Their own published roster entry at this post (a shift,
    or a split shift's part, that starts at most two hours later or is under way); else
    the shift change the person on duty is due to be relieved at (a relief at 00:30 for a
    night that began at 20:00 is early for 08:00, not late for 20:00); else the post's
    nearest shift change."""
    rostered = _rostered_start(post, person, arrived)
    if rostered is not None:
        return rostered
    if duty is not None and duty.due_until is not None and duty.person_id != person.id:
        return duty.due_until
    return shift_start_for(post, site, arrived)


def _rostered_start(post: Post, person: User, arrived: datetime) -> datetime | None:
    entries = db.session.scalars(
        select(RosterEntry)
        .join(RosterMonth, RosterMonth.id == RosterEntry.month_id)
        .where(
            RosterEntry.post_id == post.id,
            RosterEntry.user_id == person.id,
            RosterEntry.status == "planned",
            RosterMonth.status == "published",
            RosterEntry.start_at <= arrived + ROSTER_EARLY,
            RosterEntry.end_at > arrived,
        )
    )
    starts = [
        start
        for entry in entries
        for start, end in entry.times
        if start - ROSTER_EARLY <= arrived < end
    ]
    return min(starts, key=lambda start: abs(start - arrived), default=None)


def shift_end_after(post: Post, site: Site, start: datetime) -> datetime | None:
    later = [moment for moment in shift_changes(post, site, start) if moment > start]
    return later[0] if later else None


# The handover


def important_open(post: Post) -> list[DutyEntry]:
    """H9: open emergencies, incidents and help requests logged at this post."""
    return db.session.scalars(
        select(DutyEntry)
        .where(
            DutyEntry.post_id == post.id,
            DutyEntry.status == "open",
            DutyEntry.kind.in_(IMPORTANT_KINDS),
        )
        .order_by(DutyEntry.received_at)
    ).all()


def open_entries(post: Post) -> list[DutyEntry]:
    """H3: the post's open duty-log entries, each to be carried over or completed."""
    return db.session.scalars(
        select(DutyEntry)
        .where(DutyEntry.post_id == post.id, DutyEntry.status == "open")
        .order_by(DutyEntry.received_at)
    ).all()


def open_handover(post: Post) -> Handover | None:
    return db.session.scalar(
        select(Handover).where(Handover.post_id == post.id, Handover.status == "open")
    )


def state_of(handover: Handover) -> State:
    done = {event.action for event in handover.events if event.outcome == "applied"}
    done.add("arrive")
    blocked = any(
        entry.id not in {item["entry"] for item in handover.completed}
        for entry in important_open(handover.post)
    )
    return State(
        status=handover.status,
        done=frozenset(done),
        has_outgoing=handover.outgoing_id is not None,
        blocked=blocked,
        overridden=handover.override_by_id is not None,
    )


def role_in(handover: Handover, user: User) -> str:
    if user.id == handover.incoming_id:
        return "incoming"
    if user.id == handover.outgoing_id:
        return "outgoing"
    if user.role in MANAGERS:
        return "supervisor"
    return "other"


def arrive(
    post: Post,
    *,
    by: User,
    op_id: str,
    device_time: datetime,
    station: Station | None = None,
    received_at: datetime | None = None,
    clock_offset_s: float | None = None,
) -> tuple[Handover, bool]:
    """The incoming person checks in at the post: a handover opens (H1, H11)."""
    existing = db.session.get(Handover, op_id)
    if existing is not None:
        if existing.incoming_id != by.id or existing.post_id != post.id:
            raise DomainError(_("This handover was already recorded with other details."), 409)
        return existing, False
    if open_handover(post) is not None:
        raise DomainError(_("A handover is already open at this post; finish it first."), 409)
    received_at, clock_offset_s, flagged = device_clock(device_time, received_at, clock_offset_s)
    site = db.session.get(Site, post.site_id)
    duty = db.session.get(PostDuty, post.id)
    if duty is not None and duty.person_id == by.id:
        raise DomainError(_("You are on duty here already; your relief checks in."), 422)
    arrived = moment_of(device_time, received_at, flagged)
    start = shift_for(post, site, by, arrived, duty)
    on_time, late = lateness(arrived, start)
    handover = Handover(
        id=op_id,
        site_id=post.site_id,
        post=post,
        station_id=station.id if station else None,
        outgoing_id=duty.person_id if duty else None,
        incoming_id=by.id,
        shift_start=start,
        arrived_at=arrived,
        on_time=on_time,
        late_minutes=late,
        device_time=device_time,
        received_at=received_at,
        clock_offset_s=clock_offset_s,
        clock_flagged=flagged,
    )
    db.session.add(handover)
    db.session.flush()
    return handover, True


def parse_inventory(post: Post, fields: dict) -> list[dict]:
    """H2: every item of the post's list with its count and condition; a discrepancy
    needs the outgoing person's explanation."""
    items = []
    for index, item in enumerate(post.inventory or []):
        raw = str(fields.get(f"count-{index}", "")).strip()
        if not raw.isdigit():
            raise DomainError(_("Count every item: %(item)s has no count.", item=item["name"]))
        condition = str(fields.get(f"condition-{index}", "ok"))
        if condition not in CONDITIONS:
            raise DomainError(_("Choose the condition of %(item)s.", item=item["name"]))
        explanation = str(fields.get(f"explanation-{index}", "")).strip()[:500]
        expected = int(item.get("count", 1))
        counted = int(raw)
        discrepancy = counted != expected or condition != "ok"
        if discrepancy and not explanation:
            raise DomainError(
                _("%(item)s: %(counted)d of %(expected)d or not in order — the outgoing "
                  "person explains it.", item=item["name"], counted=counted, expected=expected)
            )  # fmt: skip
        items.append(
            {
                "name": item["name"],
                "expected": expected,
                "counted": counted,
                "condition": condition,
                "explanation": explanation,
                "discrepancy": discrepancy,
            }
        )
    return items


def _shown_entries(post: Post, fields: dict) -> list[DutyEntry]:
    raw = fields.get("shown")
    if raw is None:
        return open_entries(post)
    ids = [part for part in str(raw).split(",") if part.strip()]
    if not ids:
        return []
    entries = db.session.scalars(
        select(DutyEntry).where(DutyEntry.id.in_(ids), DutyEntry.post_id == post.id)
    ).all()
    if len(entries) != len(set(ids)):
        raise DomainError(_("The review names an item that is not in this post's duty log."))
    return sorted(entries, key=lambda entry: entry.received_at)


def parse_step(handover: Handover, action: str, fields: dict, photo_ids=()) -> dict:
    """The step's own fields, checked (a DomainError says what is missing)."""
    if action == "inventory":
        return {"items": parse_inventory(handover.post, fields)}
    if action == "log_review":
        # The items the person was shown ("shown", the form's list; the post's open items
        # when it has none). An item a phone logged or closed meanwhile is settled when the
        # step is applied (_review), the same way on every replay.
        shown = _shown_entries(handover.post, fields)
        decisions = {}
        for entry in shown:
            choice = str(fields.get(f"entry-{entry.id}", ""))
            if choice not in ("carried", "completed"):
                raise DomainError(
                    _("Say for each open item whether it is carried over or completed: %(what)s",
                      what=entry.summary[:40])
                )  # fmt: skip
            decisions[entry.id] = {"choice": choice, "title": entry.summary[:200]}
        return {"decisions": decisions}
    if action == "area_check":
        anomalies = []
        for index in range(10):
            text = str(fields.get(f"anomaly-{index}", "")).strip()[:300]
            if not text:
                continue
            explanation = str(fields.get(f"anomaly-explanation-{index}", "")).strip()[:300]
            if not explanation:
                raise DomainError(_("The outgoing person explains each anomaly."))
            anomalies.append({"text": text, "explanation": explanation})
        return {"anomalies": anomalies}
    if action == "summary":
        summary = str(fields.get("summary", "")).strip()
        if not summary:
            raise DomainError(_("Write the summary of the shift, with every unfinished item."))
        if len(photo_ids) > MAX_PHOTOS:
            raise DomainError(_("At most %(n)d photos.", n=MAX_PHOTOS))
        return {"summary": summary[:2000], "photos": list(photo_ids)}  # H7: the evidence
    if action == "override":
        reason = str(fields.get("reason", "")).strip()
        if not reason:
            raise DomainError(_("Write the reason for letting it pass."))
        return {"reason": reason[:500]}
    if action == "cancel":
        reason = str(fields.get("reason", "")).strip()
        if not reason:
            raise DomainError(_("Say why the handover is cancelled."))
        return {"reason": reason[:300]}
    if action in ("sign_incoming", "sign_outgoing"):
        signature = str(fields.get("signature", "")).strip()
        if not SIGNATURE.match(signature):
            raise DomainError(_("Sign in the box with your finger."))
        return {"signature": signature}
    return {}


def record_step(
    handover: Handover,
    *,
    by: User,
    op_id: str,
    action: str,
    fields: dict,
    device_time: datetime,
    received_at: datetime | None = None,
    clock_offset_s: float | None = None,
    device_id: str | None = None,
    photo_ids: list[str] = (),
) -> tuple[HandoverEvent, bool]:
    """One step by one person (their PIN already checked); returns (event, created)."""
    received_at, clock_offset_s, flagged = device_clock(device_time, received_at, clock_offset_s)
    step = parse_step(handover, action, fields, photo_ids)
    body_hash = payload_hash(
        {"handover": handover.id, "user": by.id, "action": action, "step": step,
         "device_time": device_time.isoformat()}
    )  # fmt: skip
    existing = db.session.get(HandoverEvent, op_id)
    if existing is not None:
        if existing.payload_hash != body_hash:
            raise DomainError(_("This step was already recorded with other details."), 409)
        return existing, False
    state, who = state_of(handover), role_in(handover, by)
    reason = refusal(state, action, who)
    if reason is not None:
        # About the person (403) when the right person could take the step now.
        right = {"any": "incoming"}.get(TAKER[action], TAKER[action]) if action in TAKER else who
        raise DomainError(reason, 403 if refusal(state, action, right) is None else 422)
    handover.events_count += 1
    event = HandoverEvent(
        id=op_id,
        handover=handover,
        ordinal=handover.events_count,
        action=action,
        by_id=by.id,
        payload=step,
        device_time=device_time,
        received_at=received_at,
        clock_offset_s=clock_offset_s,
        clock_flagged=flagged,
        payload_hash=body_hash,
        device_id=device_id,
    )
    db.session.add(event)
    _apply(handover, event, by, moment_of(device_time, received_at, flagged))
    db.session.flush()
    return event, True


def _apply(handover: Handover, event: HandoverEvent, by: User, when: datetime) -> None:
    step = event.payload
    site = db.session.get(Site, handover.site_id)
    if event.action == "inventory":
        handover.inventory = step["items"]
        for index, item in enumerate(step["items"]):
            if item["discrepancy"]:
                _raise_discrepancy(handover, event, site, index, item)
    elif event.action == "log_review":
        handover.carried, handover.completed = _review(handover, event, by)
    elif event.action == "area_check":
        handover.anomalies = step["anomalies"]
    elif event.action == "summary":
        handover.summary = step["summary"]
        handover.photo_ids = step.get("photos", [])
    elif event.action == "override":
        handover.override_by_id = by.id
        handover.override_reason = step["reason"]
    elif event.action == "sign_incoming":
        handover.incoming_signed_at = when
        handover.incoming_signature = step["signature"]
        if handover.outgoing_id is None:
            _close(handover, site, when)
    elif event.action == "sign_outgoing":
        handover.outgoing_signed_at = when
        handover.outgoing_signature = step["signature"]
        _close(handover, site, when)
    elif event.action == "cancel":
        handover.status = "cancelled"


def _raise_discrepancy(handover, event, site, index, item) -> None:
    """H2: a missing or damaged item becomes a nonconformity, with the explanation."""
    description = _(
        "Handover count at %(post)s: %(item)s %(counted)d of %(expected)d (%(condition)s). "
        "Outgoing person: %(explanation)s",
        post=handover.post.name,
        item=item["name"],
        counted=item["counted"],
        expected=item["expected"],
        condition=CONDITION_LABELS[item["condition"]],
        explanation=item["explanation"],
    )
    record_finding(
        site,
        by=handover.incoming,
        op_id=str(uuid.uuid5(uuid.UUID(event.id), f"inventory/{index}")),
        device_time=event.device_time,
        category="facilities" if "facilities" in site.setting("categories") else "other",
        severity="normal",
        description=description[:2000],
        location=handover.post.name,
        source="handover",
        received_at=event.received_at,
        clock_offset_s=event.clock_offset_s,
    )


def _review(handover: Handover, event: HandoverEvent, by: User) -> tuple[list, list]:
    """H3, H12: the carried-over and completed lists. The log may have changed on a phone
    between the review and its arrival here (an offline tablet syncs later); the outcome
    follows the log as it is now, never the order of arrival, and says so on the record:
    an item closed meanwhile is not carried over ("meanwhile": who closed it); an item
    logged meanwhile and not reviewed is carried over ("unreviewed"), so no open work is
    left without a holder."""
    carried, completed = [], []
    decisions = event.payload["decisions"]
    for entry_id, decision in decisions.items():
        record = {"entry": entry_id, "title": decision["title"]}
        entry = db.session.get(DutyEntry, entry_id)
        if entry is not None and entry.status != "open":
            completed.append({**record, "meanwhile": _closer(entry)})
        elif decision["choice"] == "carried":
            carried.append(record)
        else:
            completed.append(record)
            _complete_entry(handover, event, entry, by)
    for entry in open_entries(handover.post):
        if entry.id not in decisions:
            carried.append({"entry": entry.id, "title": entry.summary[:200], "unreviewed": True})
    return carried, completed


def _closer(entry: DutyEntry) -> str:
    """Who closed the entry (the last applied step that closed it)."""
    for step in reversed(entry.events):
        if step.outcome == "applied" and step.to_status != "open":
            return step.by.display_name
    return ""


def _complete_entry(handover, event, entry, by) -> None:
    entry_id = entry.id
    record_entry_step(
        entry,
        by=by,
        op_id=str(uuid.uuid5(uuid.UUID(event.id), f"complete/{entry_id}")),
        device_time=event.device_time,
        action="close",
        result=_("Completed, confirmed at the handover."),
        received_at=event.received_at,
        clock_offset_s=event.clock_offset_s,
    )


def _close(handover: Handover, site: Site, when: datetime) -> None:
    """Both signed (H5): the new shift starts; the post is the incoming person's."""
    handover.status = "signed"
    duty = db.session.get(PostDuty, handover.post_id) or PostDuty(
        post_id=handover.post_id, site_id=handover.site_id
    )
    db.session.add(duty)
    duty.person_id = handover.incoming_id
    duty.since = when
    duty.due_until = shift_end_after(handover.post, site, handover.shift_start)
    duty.handover_id = handover.id
    duty.updated_at = utcnow()


def relief_overdue(duty: PostDuty | None, now: datetime) -> bool:
    """H10: the shift has ended and nobody has signed a handover: the person on duty
    stays, and the post shows "relief overdue", never empty."""
    return duty is not None and duty.due_until is not None and duty.due_until <= now
