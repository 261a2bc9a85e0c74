"""Shift handover (交接班, rules H1–H12) on a shared tablet enrolled as a post's station.

A Handover is made when the incoming person checks in at the post; each later step
(inventory count, duty-log review, area check, the outgoing person's summary, a
supervisor's override, the two signatures) is an append-only HandoverEvent with a client
UUID and the person who took it, never "the tablet". PostDuty is the current state of
each post (who is on duty since when, until when), kept up to date when a handover is
signed, so coverage reads one small table.
"""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dutypwa.models.base import Base, created_at, intpk, utcnow, uuidpk
from dutypwa.models.site import Post, Site
from dutypwa.models.user import User

# The steps in the order the regulations give them; each one is taken once (a later
# one of the same kind replaces the earlier, as a new fact).
HANDOVER_STEPS = (
    "arrive",  # H1, H11: the incoming person checks in at the post
    "inventory",  # H2: every item counted; a discrepancy needs the outgoing person's word
    "log_review",  # H3, H12: each open item carried over by name or completed
    "area_check",  # H4: anomalies with the outgoing person's explanation
    "summary",  # H6, H7: the outgoing person's summary and evidence
    "override",  # H9: a supervisor lets important open work pass, with a reason
    "sign_incoming",  # H5
    "sign_outgoing",  # H5, H8: only after the incoming person signed
    "cancel",
)
HANDOVER_STATES = ("open", "signed", "cancelled")


class Station(Base):
    """A tablet enrolled by a supervisor as the station of one post. It holds a random
    credential in a long-lived cookie; only its SHA-256 is stored here."""

    __tablename__ = "station"

    id: Mapped[intpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    enrolled_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    enrolled_at: Mapped[created_at]
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]

    site: Mapped[Site] = relationship()
    post: Mapped[Post] = relationship()
    enrolled_by: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class Handover(Base):
    __tablename__ = "handover"
    __table_args__ = (Index("ix_handover_post_status", "post_id", "status"),)

    id: Mapped[uuidpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id"))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"))
    outgoing_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id"), comment="empty: nobody was on duty"
    )
    incoming_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    shift_start: Mapped[datetime] = mapped_column(comment="scheduled start of the new shift")
    status: Mapped[str] = mapped_column(String(12), default="open")
    arrived_at: Mapped[datetime]
    late_minutes: Mapped[int] = mapped_column(default=0, comment="H11; 0 when on time (H1)")
    on_time: Mapped[bool] = mapped_column(default=True, comment="H1: ≥ 5 min before start")
    inventory: Mapped[list] = mapped_column(
        JSON, default=list, comment="[{name, expected, counted, condition, explanation}]"
    )
    carried: Mapped[list] = mapped_column(
        JSON, default=list, comment="H12: [{entry, title}] carried over by name"
    )
    completed: Mapped[list] = mapped_column(JSON, default=list, comment="[{entry, title}]")
    anomalies: Mapped[list] = mapped_column(JSON, default=list, comment="H4: [{text, explanation}]")
    summary: Mapped[str] = mapped_column(String(2000), default="")
    photo_ids: Mapped[list] = mapped_column(JSON, default=list, comment="H7 evidence")
    override_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    override_reason: Mapped[str] = mapped_column(String(500), default="")
    incoming_signed_at: Mapped[datetime | None]
    incoming_signature: Mapped[str] = mapped_column(String(20000), default="", comment="SVG")
    outgoing_signed_at: Mapped[datetime | None]
    outgoing_signature: Mapped[str] = mapped_column(String(20000), default="", comment="SVG")
    events_count: Mapped[int] = mapped_column(default=0)
    device_time: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    clock_offset_s: Mapped[float] = mapped_column(default=0.0)
    clock_flagged: Mapped[bool] = mapped_column(default=False)

    post: Mapped[Post] = relationship()
    outgoing: Mapped[User | None] = relationship(foreign_keys=[outgoing_id])
    incoming: Mapped[User] = relationship(foreign_keys=[incoming_id])
    override_by: Mapped[User | None] = relationship(foreign_keys=[override_by_id])
    events: Mapped[list["HandoverEvent"]] = relationship(
        back_populates="handover", order_by="HandoverEvent.ordinal"
    )

    @property
    def handed_over_at(self) -> datetime:
        """When the handover really happened, as lists show it: when the post changed hands
        (the last signature, H5 and H8), until then when the relief checked in — never the
        shift's scheduled start."""
        return self.outgoing_signed_at or self.incoming_signed_at or self.arrived_at


class HandoverEvent(Base):
    """One step of a handover, by one person, appended, never changed."""

    __tablename__ = "handover_event"
    __table_args__ = (UniqueConstraint("handover_id", "ordinal", name="uq_handover_event_ordinal"),)

    id: Mapped[uuidpk]
    handover_id: Mapped[str] = mapped_column(ForeignKey("handover.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(12), default="applied", comment="or superseded")
    reason: Mapped[str] = mapped_column(String(300), default="")
    by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    device_time: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    clock_offset_s: Mapped[float] = mapped_column(default=0.0)
    clock_flagged: Mapped[bool] = mapped_column(default=False)
    payload_hash: Mapped[str] = mapped_column(String(64), default="")
    device_id: Mapped[str | None] = mapped_column(String(36))

    handover: Mapped[Handover] = relationship(back_populates="events")
    by: Mapped[User] = relationship()


class PostDuty(Base):
    """Who is on duty at each post now: kept up to date when a handover is signed (never
    history). `due_until` is the scheduled end of their shift; past it without a signed
    handover the post shows "relief overdue — <person> still on duty" (H10)."""

    __tablename__ = "post_duty"

    post_id: Mapped[int] = mapped_column(
        ForeignKey("post.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    since: Mapped[datetime]
    due_until: Mapped[datetime | None]
    handover_id: Mapped[str | None] = mapped_column(ForeignKey("handover.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[User] = relationship()
    post: Mapped[Post] = relationship()
