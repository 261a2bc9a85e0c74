"""Patrol routes, check-ins (append-only facts with a client UUID) and the current-state
table that answers "last visit per checkpoint" without reading history."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import JSON, ForeignKey, Index, String, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dutypwa.models.base import Base, intpk, utcnow, uuidpk
from dutypwa.models.checkpoint import Checkpoint
from dutypwa.models.site import Site
from dutypwa.models.user import User

# How far back to look for the last round of a route that is not running now.
LOOKBACK_DAYS = 8


@dataclass(frozen=True)
class Slot:
    """One round of a route: every checkpoint on it is due once in [start, end)."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class RoundMarks:
    """A run's rounds at one moment, reduced to two moments that are the same for every
    checkpoint on it: a last visit before `overdue_before` is overdue, before `due_before`
    due, else on time (round_status). Worked out once per route, not once per checkpoint."""

    due_before: datetime
    overdue_before: datetime | None

    def status(self, last_visit: datetime | None) -> str:
        if self.overdue_before is not None and (
            last_visit is None or last_visit < self.overdue_before
        ):
            return "overdue"
        if last_visit is None or last_visit < self.due_before:
            return "due"
        return "on_time"


@dataclass(frozen=True)
class RouteRun:
    """One window of a route, e.g. the night of 20:00 to 06:00, split into slots."""

    start: datetime
    end: datetime
    slots: tuple[Slot, ...]

    def marks(self, now: datetime) -> RoundMarks:
        """Due: the current round has started and the checkpoint was not visited in it
        yet. Overdue: a round ended without a visit (the last one once the window is
        over, else the round before the current one)."""
        past = [slot for slot in self.slots if slot.start <= now]
        current = past[-1]
        if now >= self.end:
            return RoundMarks(current.start, current.start)
        return RoundMarks(current.start, past[-2].start if len(past) > 1 else None)


class Route(Base):
    """An ordered list of checkpoints walked every `interval_minutes` within a daily window.

    The window may cross midnight (20:00–06:00); it belongs to the day it starts on.
    """

    __tablename__ = "route"

    id: Mapped[intpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    weekdays: Mapped[str] = mapped_column(
        String(7), default="1234567", comment="ISO weekdays the window starts on, 1 = Monday"
    )
    window_start: Mapped[time] = mapped_column(Time)
    window_end: Mapped[time] = mapped_column(Time, comment="equal to start: all day")
    interval_minutes: Mapped[int] = mapped_column(default=120)
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    site: Mapped[Site] = relationship()
    stops: Mapped[list["RouteStop"]] = relationship(
        back_populates="route", order_by="RouteStop.position", cascade="all, delete-orphan"
    )

    @property
    def checkpoints(self) -> list[Checkpoint]:
        return [stop.checkpoint for stop in self.stops]

    @property
    def all_day(self) -> bool:
        """A window that ends when it starts is the whole day (shown as 全天, not 00:00 – 00:00)."""
        return self.window_start == self.window_end

    def run_on(self, day: date) -> RouteRun | None:
        """The window that starts on local date `day`, or None if the route is off that day."""
        if str(day.isoweekday()) not in self.weekdays:
            return None
        tz = self.site.tz
        start = datetime.combine(day, self.window_start, tzinfo=tz)
        end = datetime.combine(day, self.window_end, tzinfo=tz)
        if end <= start:
            end += timedelta(days=1)
        step = timedelta(minutes=max(self.interval_minutes, 5))
        slots = []
        slot_start = start
        while slot_start < end:
            slots.append(Slot(slot_start, min(slot_start + step, end)))
            slot_start += step
        return RouteRun(start, end, tuple(slots))

    def current_run(self, now: datetime) -> RouteRun | None:
        """The window running at `now` (yesterday's may still run past midnight)."""
        local = now.astimezone(self.site.tz)
        for day in (local.date(), local.date() - timedelta(days=1)):
            run = self.run_on(day)
            if run and run.start <= local < run.end:
                return run
        return None

    def last_run(self, now: datetime) -> RouteRun | None:
        """The window running now, else the most recent one that ended."""
        local = now.astimezone(self.site.tz)
        for offset in range(LOOKBACK_DAYS):
            run = self.run_on(local.date() - timedelta(days=offset))
            if run and run.start <= local:
                return run
        return None

    def status_for(self, last_visit: datetime | None, now: datetime) -> str:
        return round_status(self.last_run(now), last_visit, now)


def round_status(run: RouteRun | None, last_visit: datetime | None, now: datetime) -> str:
    """on_time, due or overdue for one checkpoint in a route's window, given its last visit.

    Due: the current round has started and the checkpoint was not visited in it yet.
    Overdue: a round ended without a visit (a missed round stays overdue until the
    checkpoint is visited again).
    """
    if run is None:
        return "on_time"
    return run.marks(now).status(last_visit)


class RouteStop(Base):
    __tablename__ = "route_stop"

    route_id: Mapped[int] = mapped_column(
        ForeignKey("route.id", ondelete="CASCADE"), primary_key=True
    )
    checkpoint_id: Mapped[int] = mapped_column(
        ForeignKey("checkpoint.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(default=0)

    route: Mapped[Route] = relationship(back_populates="stops")
    checkpoint: Mapped[Checkpoint] = relationship()


class CheckIn(Base):
    """A visit to a checkpoint. Its id is made by the device, so a retry is a duplicate."""

    __tablename__ = "checkin"
    __table_args__ = (Index("ix_checkin_checkpoint_visited", "checkpoint_id", "visited_at"),)

    id: Mapped[uuidpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoint.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    device_time: Mapped[datetime] = mapped_column(comment="the device's clock at the visit")
    received_at: Mapped[datetime] = mapped_column(default=utcnow, comment="server clock")
    clock_offset_s: Mapped[float] = mapped_column(
        default=0.0, comment="server minus device clock, measured when the op arrived"
    )
    visited_at: Mapped[datetime] = mapped_column(comment="device time corrected by the offset")
    clock_flagged: Mapped[bool] = mapped_column(default=False, comment="|offset| over limit")
    token: Mapped[str] = mapped_column(String(40), comment="the token that was scanned")
    results: Mapped[list] = mapped_column(
        JSON, default=list, comment='checklist: [{"item": …, "ok": bool, "note": …}]'
    )
    note: Mapped[str] = mapped_column(String(1000), default="")
    payload_hash: Mapped[str] = mapped_column(String(64), comment="tells a retry from a clash")
    device_id: Mapped[str | None] = mapped_column(String(36), comment="the phone, if synced")

    checkpoint: Mapped[Checkpoint] = relationship()
    user: Mapped[User] = relationship()
    findings: Mapped[list["Finding"]] = relationship(  # noqa: F821 (models/finding.py)
        back_populates="checkin", order_by="Finding.created_at"
    )


class CheckpointState(Base):
    """Current state per checkpoint, kept up to date as check-ins arrive (never history)."""

    __tablename__ = "checkpoint_state"
    __table_args__ = (Index("ix_checkpoint_state_site_updated", "site_id", "updated_at"),)

    checkpoint_id: Mapped[int] = mapped_column(
        ForeignKey("checkpoint.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    last_checkin_id: Mapped[str] = mapped_column(ForeignKey("checkin.id"))
    last_visit_at: Mapped[datetime]
    last_user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    visit_count: Mapped[int] = mapped_column(default=0)
    open_findings: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    last_user: Mapped[User] = relationship()
