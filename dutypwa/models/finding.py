"""Nonconformities (不合格项, "findings" in the code) and the append-only steps of their
lifecycle: assign, correct, verify, re-check, comment (rules D1, D3).

A finding is a fact made on a device: its id is a client UUID, so a replay is a
duplicate. It comes from a "not OK" checklist item of a check-in, or is logged from a
checkpoint, an area or anywhere. Each later step is a FindingEvent, also with a client
UUID; the columns on Finding that describe its current state (status, assignee, round,
due time, escalation level) are kept up to date by the step that changes them, so lists
read one table.
"""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dutypwa.models.base import Base, created_at, utcnow, uuidpk
from dutypwa.models.checkpoint import Checkpoint
from dutypwa.models.patrol import CheckIn
from dutypwa.models.site import Area
from dutypwa.models.user import User

CATEGORIES = (
    "garden",
    "equipment",
    "hygiene",
    "safety",
    "lighting",
    "facilities",
    "discipline",
    "other",
)
SEVERITIES = ("urgent", "normal", "low")
# Where a nonconformity was raised from.
SOURCES = ("checkpoint", "patrol", "handover", "spotcheck", "anywhere")
# The lifecycle: open → assigned → corrected → closed, or → reopened (二次整改) → corrected …
STATES = ("open", "assigned", "corrected", "reopened", "closed")
OPEN_STATES = ("open", "assigned", "corrected", "reopened")
# Open and waiting for a correction: only these can be late (a correction waits for verification).
OVERDUE_STATES = ("open", "assigned", "reopened")
STEPS = ("assign", "correct", "verify_pass", "verify_fail", "close_deduct", "recheck", "comment")
MAX_PHOTOS = 6


class Finding(Base):
    __tablename__ = "finding"

    id: Mapped[uuidpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    checkpoint_id: Mapped[int | None] = mapped_column(ForeignKey("checkpoint.id"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    checkin_id: Mapped[str | None] = mapped_column(ForeignKey("checkin.id"), index=True)
    location: Mapped[str] = mapped_column(String(200), default="", comment="free-text place")
    category: Mapped[str] = mapped_column(String(20), default="other")
    severity: Mapped[str] = mapped_column(String(10), default="normal")
    item: Mapped[str] = mapped_column(String(200), default="", comment="checklist item, if any")
    description: Mapped[str] = mapped_column(String(2000), default="")
    status: Mapped[str] = mapped_column(String(20), default="open")
    source: Mapped[str] = mapped_column(String(20), default="anywhere", server_default="anywhere")
    due_at: Mapped[datetime | None] = mapped_column(comment="correction due, from severity")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    assignee_team: Mapped[str] = mapped_column(String(40), default="")
    round: Mapped[int] = mapped_column(
        default=1, server_default="1", comment="2 = second correction (二次整改)"
    )
    corrected_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id"), comment="who made the latest correction"
    )
    recheck_due: Mapped[bool] = mapped_column(
        default=False,
        server_default=false(),
        comment="the next patrol at its checkpoint re-checks it",
    )
    escalation_level: Mapped[int] = mapped_column(
        default=0, server_default="0", comment="0, 2 supervisor, 3 director"
    )
    deduction: Mapped[int] = mapped_column(
        default=0, server_default="0", comment="points deducted at closing"
    )
    closed_at: Mapped[datetime | None]
    events_count: Mapped[int] = mapped_column(
        default=0, server_default="0", comment="ordinal of the last step"
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    device_time: Mapped[datetime | None] = mapped_column(comment="the device clock")
    received_at: Mapped[datetime] = mapped_column(default=utcnow, comment="server clock")
    clock_offset_s: Mapped[float] = mapped_column(default=0.0)
    clock_flagged: Mapped[bool] = mapped_column(default=False)
    payload_hash: Mapped[str] = mapped_column(String(64), default="")
    device_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[created_at]

    __table_args__ = (
        Index("ix_finding_site_status_due", "site_id", "status", "due_at"),
        # The escalation clock's question on every supervisor page: overdue, not yet up.
        Index(
            "ix_finding_site_status_level_due", "site_id", "status", "escalation_level", "due_at"
        ),
        # The list filtered by category (rare ones among closed items), area, person ("mine")
        # or team: read in due order without filtering thousands of rows on the table.
        Index("ix_finding_site_status_category_due", "site_id", "status", "category", "due_at"),
        Index("ix_finding_site_area_status_due", "site_id", "area_id", "status", "due_at"),
        Index("ix_finding_site_assignee_status_due", "site_id", "assignee_id", "status", "due_at"),
        Index("ix_finding_site_team_status_due", "site_id", "assignee_team", "status", "due_at"),
    )

    checkin: Mapped[CheckIn | None] = relationship(back_populates="findings")
    checkpoint: Mapped[Checkpoint | None] = relationship()
    area: Mapped[Area | None] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    corrected_by: Mapped[User | None] = relationship(foreign_keys=[corrected_by_id])
    events: Mapped[list["FindingEvent"]] = relationship(
        back_populates="finding", order_by="FindingEvent.ordinal"
    )
    photos: Mapped[list["FindingPhoto"]] = relationship(
        order_by="FindingPhoto.position", cascade="all, delete-orphan"
    )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    def overdue(self, now: datetime) -> bool:
        """Past its due time and not yet corrected (a correction waits for verification)."""
        return self.status in OVERDUE_STATES and self.due_at is not None and self.due_at < now


class FindingPhoto(Base):
    """A photo named by a finding. The photo itself may arrive before or after the
    finding (the device uploads it separately), so there is no foreign key to it."""

    __tablename__ = "finding_photo"

    finding_id: Mapped[str] = mapped_column(
        ForeignKey("finding.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[str] = mapped_column(String(36), index=True)


class FindingEvent(Base):
    """One step of a nonconformity's lifecycle, appended, never changed.

    `ordinal` is the server order (1, 2, …) among applied and superseded steps alike. A
    step made offline names the ordinal it saw (`base`); if the item moved on meanwhile
    and the step no longer applies, it is kept with outcome "superseded" and the reason.
    """

    __tablename__ = "finding_event"
    __table_args__ = (UniqueConstraint("finding_id", "ordinal", name="uq_finding_event_ordinal"),)

    id: Mapped[uuidpk]
    finding_id: Mapped[str] = mapped_column(ForeignKey("finding.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(12), default="applied", comment="or superseded")
    reason: Mapped[str] = mapped_column(String(300), default="", comment="why superseded")
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    note: Mapped[str] = mapped_column(String(2000), default="")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    assignee_team: Mapped[str] = mapped_column(String(40), default="")
    result: Mapped[str] = mapped_column(String(10), default="", comment="re-check: ok / not_ok")
    deduction: Mapped[int] = mapped_column(default=0)
    photo_ids: Mapped[list] = mapped_column(JSON, default=list, comment="after-photos")
    checkin_id: Mapped[str | None] = mapped_column(String(36), comment="re-check's check-in")
    device_time: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    clock_offset_s: Mapped[float] = mapped_column(default=0.0)
    clock_flagged: Mapped[bool] = mapped_column(default=False)
    payload_hash: Mapped[str] = mapped_column(String(64), default="")
    device_id: Mapped[str | None] = mapped_column(String(36))

    finding: Mapped[Finding] = relationship(back_populates="events")
    by: Mapped[User] = relationship(foreign_keys=[by_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])

    @property
    def applied(self) -> bool:
        return self.outcome == "applied"
