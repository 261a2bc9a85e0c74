"""What every fact a device makes has in common (ARCHITECTURE §4): the hash of its body,
so a replay with other details is a conflict, and the device clock measured against the
server's — the offset, flagged beyond a limit but never refused."""

import hashlib
import json
from datetime import datetime

from flask import current_app

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
