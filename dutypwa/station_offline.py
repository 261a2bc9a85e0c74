"""A station without the network (docs/offline.md, "Station"): the reference a tablet keeps
to run a handover offline, and the sync API's two handover ops.

The tablet checks a PIN itself against a verifier (the SHA-256 of the person's PBKDF2 PIN
key, models/user.py); each op it queues carries an HMAC of the op's id under that key, and
the server checks the HMAC again before the same domain functions as the online pages
(handover.arrive, handover.record_step) apply the op.
"""

import hashlib
import hmac
from datetime import datetime

from flask import g
from flask_babel import gettext as _
from sqlalchemy import select

from dutypwa.dutylog.entries import kind_label
from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.handover import (
    arrive,
    important_open,
    open_entries,
    open_handover,
    record_step,
    relief_overdue,
    shift_changes,
    state_of,
)
from dutypwa.models import MANAGERS, Handover, PostDuty, Station, User
from dutypwa.models.site import site_members

# The ops a station may send (with its cookie, nobody logged in).
STATION_KINDS = ("handover_arrive", "handover_step")
STEP_ACTIONS = ("inventory", "log_review", "area_check", "summary", "override",
                "sign_incoming", "sign_outgoing", "cancel")  # fmt: skip


def _person(user: User | None) -> dict | None:
    return {"id": user.id, "name": user.display_name} if user else None


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def pin_verifier(user: User) -> dict | None:
    """What a tablet needs to check the person's PIN offline, or None (no PIN yet)."""
    parts = user.pin_key_parts()
    if parts is None:
        return None
    iterations, salt, key = parts
    return {"iterations": iterations, "salt": salt, "verifier": hashlib.sha256(key).hexdigest()}


def proof_ok(user: User, op_id: str, proof) -> bool:
    parts = user.pin_key_parts()
    if parts is None or not isinstance(proof, str):
        return False
    expected = hmac.new(parts[2], op_id.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, proof.lower())


def station_members(station: Station) -> list[User]:
    return db.session.scalars(
        select(User)
        .join(site_members, site_members.c.user_id == User.id)
        .where(site_members.c.site_id == station.site_id, User.active)
        .order_by(User.role != "staff", User.display_name)
    ).all()


def station_reference(station: Station, now: datetime) -> dict:
    """Everything the offline station draws: the post, who holds it, the open handover
    and its state, the open log items, the people with their PIN verifiers."""
    post, site = station.post, station.site
    duty = db.session.get(PostDuty, post.id)
    handover = open_handover(post)
    important = {entry.id for entry in important_open(post)}
    return {
        "server_time": now.isoformat(),
        "station": {"id": station.id, "name": station.name},
        "site": {"code": site.code, "name": site.name, "timezone": site.timezone},
        "post": {
            "id": post.id,
            "name": post.name,
            "inventory": [
                {"name": item["name"], "count": int(item.get("count", 1))}
                for item in post.inventory or []
            ],
            "shift_changes": [_when(moment) for moment in shift_changes(post, site, now)],
        },
        "duty": {
            "person": _person(duty.person),
            "since": _when(duty.since),
            "due_until": _when(duty.due_until),
            "overdue": relief_overdue(duty, now),
        }
        if duty and duty.person
        else None,
        "handover": _handover_state(handover) if handover else None,
        "entries": [
            {
                "id": entry.id,
                "kind": entry.kind,
                "kind_label": str(kind_label(entry.kind)),
                "summary": entry.summary,
                "follow_up": entry.follow_up,
                "when": _when(entry.when),
                "important": entry.id in important,
            }
            for entry in open_entries(post)
        ],
        "people": [
            {
                "id": user.id,
                "name": user.display_name,
                "role": user.role,
                "manager": user.role in MANAGERS,
                "pin": pin_verifier(user),
                "locked_until": _when(user.pin_locked_until)
                if user.pin_locked_until and user.pin_locked_until > now
                else None,
            }
            for user in station_members(station)
        ],
    }


def _handover_state(handover: Handover) -> dict:
    state = state_of(handover)
    return {
        "id": handover.id,
        "incoming": _person(handover.incoming),
        "outgoing": _person(handover.outgoing),
        "shift_start": _when(handover.shift_start),
        "arrived_at": _when(handover.arrived_at),
        "on_time": handover.on_time,
        "late_minutes": handover.late_minutes,
        "done": sorted(state.done),
        "blocked": state.blocked,
        "overridden": state.overridden,
        "inventory": handover.inventory,
        "carried": handover.carried,
        "completed": handover.completed,
        "anomalies": handover.anomalies,
        "summary": handover.summary,
    }


# The sync API's ops


def _station() -> Station:
    station = g.get("station")
    if station is None:
        raise DomainError(_("Only a station tablet sends handover steps."), 403)
    return station


def _acting(op, station: Station) -> User:
    """The person the op names, a member of the station's site, with a PIN proof that
    matches their PIN key."""
    try:
        user = db.session.get(User, int(op.payload.get("person")))
    except (TypeError, ValueError):
        user = None
    if user is None or not user.active or not any(s.id == station.site_id for s in user.sites):
        raise DomainError(_("This person is not a member of this site."), 403)
    if not proof_ok(user, op.id, op.payload.get("pin_proof")):
        raise DomainError(
            _("The PIN check of this step does not match %(name)s's PIN now (was the PIN "
              "changed since?). The step was not applied.", name=user.display_name),
            403,
        )  # fmt: skip
    return user


def apply_handover_arrive(op, context) -> bool:
    station = _station()
    person = _acting(op, station)
    if db.session.get(Handover, op.id) is None:
        # The tablet checked the person in against the holder it knew; if the post has
        # changed hands since, this check-in is for a shift that is gone.
        duty = db.session.get(PostDuty, station.post_id)
        holder = duty.person_id if duty else None
        if op.payload.get("outgoing") != holder:
            raise DomainError(
                _("The post changed hands before this check-in reached the server; check in "
                  "again."),
                409,
            )  # fmt: skip
    _handover, created = arrive(
        station.post,
        by=person,
        op_id=op.id,
        device_time=op.device_time,
        station=station,
        received_at=context.now,
        clock_offset_s=context.offset,
    )
    return created


def apply_handover_step(op, context, *, fields: dict, photo_ids: list[str]) -> bool:
    station = _station()
    handover = db.session.get(Handover, str(op.payload.get("subject", "")))
    if handover is None or handover.post_id != station.post_id:
        raise DomainError(_("There is no such handover at this post."), 404)
    person = _acting(op, station)
    action = fields.get("action", "")
    if action not in STEP_ACTIONS:
        raise DomainError(_("That is not a step of a handover."))
    if photo_ids and action != "summary":
        raise DomainError(_("Only the outgoing summary takes photos."))
    _event, created = record_step(
        handover,
        by=person,
        op_id=op.id,
        action=action,
        fields=fields,
        device_time=op.device_time,
        received_at=context.now,
        clock_offset_s=context.offset,
        device_id=context.device_id,
        photo_ids=photo_ids,
    )
    return created
