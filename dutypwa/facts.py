"""What every fact a device makes has in common (ARCHITECTURE §4): the hash of its body,
so a replay with other details is a conflict, and the device clock measured against the
server's — the offset, flagged beyond a limit but never refused."""

import hashlib
import json
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _

from dutypwa.models import utcnow


def payload_hash(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def device_clock(
    device_time: datetime, received_at: datetime | None, clock_offset_s: float | None
) -> tuple[datetime, float, bool]:
    """(received_at, clock offset in seconds, flagged). The sync API measures the offset
    once per batch and passes it; a form post measures it against its own receipt."""
    received_at = received_at or utcnow()
    if clock_offset_s is None:
        clock_offset_s = (received_at - device_time).total_seconds()
    return received_at, clock_offset_s, is_flagged(clock_offset_s)


def is_flagged(clock_offset_s: float) -> bool:
    return abs(clock_offset_s) > current_app.config["CLOCK_SKEW_FLAG_SECONDS"]


def moment_of(device_time: datetime | None, received_at: datetime, flagged: bool) -> datetime:
    """When something happened: the phone's time unless its clock was flagged."""
    return received_at if flagged or device_time is None else device_time


def superseded_reason(reason: str, events: list, step_labels: dict) -> str:
    """Why a step made offline against an older state is kept but not applied: the rule
    that stands in its way, and who changed the item first with which step."""
    last = events[-1] if events else None
    if last is None:
        return reason
    return _(
        "%(reason)s %(who)s changed it first (%(step)s).",
        reason=reason,
        who=last.by.display_name,
        step=step_labels[last.action],
    )
