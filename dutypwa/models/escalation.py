"""Escalations (逐级上报, D2, D3, D11), the supervisor's reviews of each day's records (D9)
and the drafted reports on repeated problems (D8)."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dutypwa.models.base import Base, created_at, intpk, utcnow
from dutypwa.models.checkpoint import Checkpoint
from dutypwa.models.dutylog import DutyEntry
from dutypwa.models.finding import Finding
from dutypwa.models.site import Area
from dutypwa.models.user import User

# Levels an item goes up through; 1 is the person on duty, where everything starts.
LEVELS = {1: "staff", 2: "supervisor", 3: "director"}
LEVEL_ROLES = {2: ("supervisor", "director", "admin"), 3: ("director", "admin")}
ESCALATION_REASONS = ("manual", "overdue", "emergency", "unacknowledged", "no_arrival")


class Escalation(Base):
    """An item put before a level (supervisor or director) that must acknowledge it by
    `ack_due`; if nobody does, it goes up a level by itself at that moment, and this row
    records when it was superseded. The rows of an item are its escalation timeline."""

    __tablename__ = "escalation"
    __table_args__ = (
        Index(
            "ix_escalation_site_pending",
            "site_id",
            "acknowledged_at",
            "superseded_at",
            "level",
            "ack_due",
        ),
    )

    id: Mapped[intpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    finding_id: Mapped[str | None] = mapped_column(ForeignKey("finding.id"), index=True)
    entry_id: Mapped[str | None] = mapped_column(ForeignKey("duty_entry.id"), index=True)
    level: Mapped[int] = mapped_column(comment="2 supervisor, 3 director")
    reason: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(500), default="")
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    raised_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id"), comment="empty: raised by the clock"
    )
    ack_due: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    superseded_at: Mapped[datetime | None] = mapped_column(comment="went up a level")

    finding: Mapped[Finding | None] = relationship()
    entry: Mapped[DutyEntry | None] = relationship()
    raised_by: Mapped[User | None] = relationship(foreign_keys=[raised_by_id])
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])

    @property
    def pending(self) -> bool:
        return self.acknowledged_at is None and self.superseded_at is None


class Review(Base):
    """A supervisor marked a duty-log entry, a nonconformity or a work order / complaint
    record as reviewed (D9), with the follow-up action they decided, if any."""

    __tablename__ = "review"

    id: Mapped[intpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    finding_id: Mapped[str | None] = mapped_column(ForeignKey("finding.id"), index=True)
    entry_id: Mapped[str | None] = mapped_column(ForeignKey("duty_entry.id"), index=True)
    follow_up_id: Mapped[int | None] = mapped_column(ForeignKey("follow_up.id"), index=True)
    reviewed_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    reviewed_at: Mapped[created_at]
    follow_up: Mapped[str] = mapped_column(String(500), default="")

    reviewed_by: Mapped[User] = relationship()


repetition_items = Table(
    "repetition_item",
    Base.metadata,
    Column("report_id", ForeignKey("repetition_report.id", ondelete="CASCADE"), primary_key=True),
    Column("finding_id", ForeignKey("finding.id", ondelete="CASCADE"), primary_key=True),
)


class RepetitionReport(Base):
    """The written report on a problem that keeps coming back (D8): the same category at
    the same checkpoint or area N times in M days. Drafted by the software, edited and
    printed by people, linked to the nonconformities behind it."""

    __tablename__ = "repetition_report"
    __table_args__ = (Index("ix_repetition_report_key", "site_id", "category", "status"),)

    id: Mapped[intpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    category: Mapped[str] = mapped_column(String(20))
    checkpoint_id: Mapped[int | None] = mapped_column(ForeignKey("checkpoint.id"))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    threshold: Mapped[int] = mapped_column(comment="N, as the setting was when drafted")
    window_days: Mapped[int] = mapped_column(comment="M")
    status: Mapped[str] = mapped_column(String(10), default="draft", comment="or sent")
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(8000))
    edited: Mapped[bool] = mapped_column(default=False, comment="a person changed the draft")
    created_at: Mapped[created_at]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    sent_at: Mapped[datetime | None]

    checkpoint: Mapped[Checkpoint | None] = relationship()
    area: Mapped[Area | None] = relationship()
    findings: Mapped[list[Finding]] = relationship(
        secondary=repetition_items, order_by=Finding.received_at
    )
