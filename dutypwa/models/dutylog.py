"""The duty log (值班记录表): entries and their append-only steps, the work orders and
complaint records made from them (D6, D7), and the emergency-keys register (D12)."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dutypwa.models.base import Base, created_at, intpk, utcnow, uuidpk
from dutypwa.models.site import Area, Post, Site
from dutypwa.models.user import User

ENTRY_KINDS = ("inquiry", "help", "complaint", "repair", "incident", "emergency", "patrol_note")
ENTRY_STATES = ("open", "closed")
ENTRY_STEPS = ("update", "close", "reopen", "arrive", "comment")
FOLLOW_UP_TYPES = ("work_order", "complaint")
FOLLOW_UP_STATES = ("open", "in_progress", "done", "closed")


class DutyEntry(Base):
    """One thing that happened on duty: who reported it, what, how it was handled, the
    result and what is left. A fact made on a device (client UUID); later changes are
    DutyEntryEvents, and the columns here hold the current state they produced."""

    __tablename__ = "duty_entry"
    __table_args__ = (
        Index("ix_duty_entry_site_status_respond", "site_id", "status", "respond_by"),
        Index("ix_duty_entry_site_received", "site_id", "received_at"),
        # The escalation clock's question on every supervisor page: open emergencies not yet
        # escalated, without reading the year's log by received_at.
        Index(
            "ix_duty_entry_site_status_level_received",
            "site_id",
            "status",
            "escalation_level",
            "received_at",
        ),
    )

    id: Mapped[uuidpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("post.id"))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    location: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(20))
    reporter_name: Mapped[str] = mapped_column(String(60), default="", comment="resident")
    reporter_unit: Mapped[str] = mapped_column(String(60), default="", comment="e.g. 3-2-701")
    reporter_phone: Mapped[str] = mapped_column(String(30), default="")
    summary: Mapped[str] = mapped_column(String(2000), comment="what happened")
    handling: Mapped[str] = mapped_column(String(2000), default="", comment="how handled")
    result: Mapped[str] = mapped_column(String(2000), default="")
    follow_up: Mapped[str] = mapped_column(String(2000), default="", comment="what is left")
    status: Mapped[str] = mapped_column(String(10), default="open")
    respond_by: Mapped[datetime | None] = mapped_column(comment="response due, from kind")
    closed_at: Mapped[datetime | None]
    arrival_due: Mapped[datetime | None] = mapped_column(comment="emergency: on scene by (D11)")
    arrived_at: Mapped[datetime | None]
    arrived_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    escalation_level: Mapped[int] = mapped_column(default=0, comment="0, 2 supervisor, 3 director")
    events_count: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    device_time: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    clock_offset_s: Mapped[float] = mapped_column(default=0.0)
    clock_flagged: Mapped[bool] = mapped_column(default=False)
    payload_hash: Mapped[str] = mapped_column(String(64), default="")
    device_id: Mapped[str | None] = mapped_column(String(36))

    site: Mapped[Site] = relationship()
    post: Mapped[Post | None] = relationship()
    area: Mapped[Area | None] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    arrived_by: Mapped[User | None] = relationship(foreign_keys=[arrived_by_id])
    events: Mapped[list["DutyEntryEvent"]] = relationship(
        back_populates="entry", order_by="DutyEntryEvent.ordinal"
    )
    follow_ups: Mapped[list["FollowUp"]] = relationship(
        back_populates="entry", order_by="FollowUp.id"
    )

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def when(self) -> datetime:
        """When it happened: the device's time unless its clock was flagged."""
        if self.device_time is not None and not self.clock_flagged:
            return self.device_time
        return self.received_at

    def overdue(self, now: datetime) -> bool:
        return self.is_open and self.respond_by is not None and self.respond_by < now

    @property
    def place(self) -> str:
        """Where it happened as the log shows it: post · area · the exact place."""
        parts = [self.post.name if self.post else "", self.area.name if self.area else ""]
        return " · ".join(part for part in [*parts, self.location] if part)


class DutyEntryEvent(Base):
    """One step on a duty-log entry (handling update, close, reopen, arrival on scene,
    comment), appended, never changed; ordered by `ordinal` (server order)."""

    __tablename__ = "duty_entry_event"
    __table_args__ = (UniqueConstraint("entry_id", "ordinal", name="uq_duty_entry_event_ordinal"),)

    id: Mapped[uuidpk]
    entry_id: Mapped[str] = mapped_column(ForeignKey("duty_entry.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(12), default="applied", comment="or superseded")
    reason: Mapped[str] = mapped_column(String(300), default="")
    from_status: Mapped[str] = mapped_column(String(10))
    to_status: Mapped[str] = mapped_column(String(10))
    by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    handling: Mapped[str] = mapped_column(String(2000), default="")
    result: Mapped[str] = mapped_column(String(2000), default="")
    follow_up: Mapped[str] = mapped_column(String(2000), default="")
    note: Mapped[str] = mapped_column(String(2000), default="")
    device_time: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    clock_offset_s: Mapped[float] = mapped_column(default=0.0)
    clock_flagged: Mapped[bool] = mapped_column(default=False)
    payload_hash: Mapped[str] = mapped_column(String(64), default="")
    device_id: Mapped[str | None] = mapped_column(String(36))

    entry: Mapped[DutyEntry] = relationship(back_populates="events")
    by: Mapped[User] = relationship()


class FollowUp(Base):
    """A repair work order (维修工程确认单) or a complaint record (投诉记录表) made from a
    duty-log entry (D6), with its own number and status."""

    __tablename__ = "follow_up"
    __table_args__ = (UniqueConstraint("site_id", "number", name="uq_follow_up_site_number"),)

    id: Mapped[intpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    entry_id: Mapped[str | None] = mapped_column(ForeignKey("duty_entry.id"), index=True)
    type: Mapped[str] = mapped_column(String(12))
    number: Mapped[str] = mapped_column(String(30), comment="WX-20261126-01 / TS-…")
    team: Mapped[str] = mapped_column(String(40), default="", comment="e.g. maintenance")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    title: Mapped[str] = mapped_column(String(2000))
    location: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(12), default="open")
    handling: Mapped[str] = mapped_column(String(2000), default="")
    result: Mapped[str] = mapped_column(String(2000), default="")
    feedback: Mapped[str] = mapped_column(String(200), default="", comment="resident's word")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[created_at]
    done_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    entry: Mapped[DutyEntry | None] = relationship(back_populates="follow_ups")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])


class KeyLoan(Base):
    """The emergency-keys register (D12): which key, taken by whom, approved by which duty
    manager, when out and when back. `returned_at` is written once, never changed."""

    __tablename__ = "key_loan"
    __table_args__ = (Index("ix_key_loan_site_returned", "site_id", "returned_at"),)

    id: Mapped[intpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    key_name: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(String(300), default="")
    taken_by: Mapped[str] = mapped_column(String(60), comment="name; may be of another dept")
    approved_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    out_at: Mapped[datetime] = mapped_column(default=utcnow)
    returned_at: Mapped[datetime | None]
    returned_recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    note: Mapped[str] = mapped_column(String(300), default="")

    approved_by: Mapped[User] = relationship(foreign_keys=[approved_by_id])
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])
    returned_recorded_by: Mapped[User | None] = relationship(foreign_keys=[returned_recorded_by_id])
