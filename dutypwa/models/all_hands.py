"""All-hands periods (全员留守, R7): a manager declares a typhoon, rainstorm, flood or company
event for a site; every member's phone shows it and asks for an acknowledgement. Beside the
period: each acknowledgement (a fact made on a phone, offline too), the standby (备勤) roster
entries made for it, and what a manager decided about approved leave in its window.
The rules: dutypwa/roster/all_hands.py.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dutypwa.models.base import Base, intpk, utcnow, uuidpk
from dutypwa.models.roster import RosterEntry
from dutypwa.models.roster_request import RosterRequest
from dutypwa.models.site import Site
from dutypwa.models.user import User

ALL_HANDS_KINDS = ("typhoon", "rainstorm", "flood", "event", "other")
# In order of strength: "on site" says more than "I have read it".
ACK_STATUSES = ("acknowledged", "on_site")
LEAVE_DECISIONS = ("recall", "keep")
MAX_ALL_HANDS_HOURS = 72


class AllHands(Base):
    """One declared period at one site, from `starts_at` until it is lifted (expected to
    end at `until`). Its id is the declaring form's op id, so a resent form is the same
    declaration."""

    __tablename__ = "all_hands"
    __table_args__ = (
        # Every page asks for the open periods at the person's sites (the banner).
        Index("ix_all_hands_site_open", "site_id", "lifted_at", "until"),
    )

    id: Mapped[uuidpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(
        String(12), comment="typhoon / rainstorm / flood / event / other"
    )
    level: Mapped[str] = mapped_column(
        String(40), default="", comment="the warning as announced, e.g. 橙色预警"
    )
    instructions: Mapped[str] = mapped_column(String(1000), default="")
    starts_at: Mapped[datetime]
    until: Mapped[datetime] = mapped_column(
        comment="the expected end, at most 72 h after the start; it may be extended"
    )
    declared_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    declared_at: Mapped[datetime] = mapped_column(default=utcnow)
    extended_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id"), comment="who last moved `until` later"
    )
    extended_at: Mapped[datetime | None]
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    lifted_at: Mapped[datetime | None] = mapped_column(comment="empty: not lifted yet")
    payload_hash: Mapped[str] = mapped_column(
        String(64), default="", comment="of the declaring form: a resend with other details"
    )

    site: Mapped[Site] = relationship()
    declared_by: Mapped[User] = relationship(foreign_keys=[declared_by_id])
    extended_by: Mapped[User | None] = relationship(foreign_keys=[extended_by_id])
    lifted_by: Mapped[User | None] = relationship(foreign_keys=[lifted_by_id])
    standby: Mapped[list["AllHandsStandby"]] = relationship(
        back_populates="all_hands", cascade="all, delete-orphan"
    )

    @property
    def lifted(self) -> bool:
        return self.lifted_at is not None

    @property
    def ends_at(self) -> datetime:
        """When it ended or will end: the lift, if it came before the expected end."""
        return min(self.lifted_at, self.until) if self.lifted_at else self.until

    def is_open(self, now: datetime) -> bool:
        """Shown on every phone: not lifted and not past its expected end (an upcoming
        period shows too, so people come in before the storm)."""
        return self.lifted_at is None and self.until > now


class AllHandsAck(Base):
    """R7: a person's "I have read it" or "I am on site", tapped on a phone (offline too);
    the id is the client's op id. Appended, never changed: the strongest status a person
    reported counts, whatever order the phones' records arrive in."""

    __tablename__ = "all_hands_ack"
    __table_args__ = (Index("ix_all_hands_ack_period_user", "all_hands_id", "user_id"),)

    id: Mapped[uuidpk]
    all_hands_id: Mapped[str] = mapped_column(ForeignKey("all_hands.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    status: Mapped[str] = mapped_column(String(12), comment="acknowledged / on_site")
    device_time: Mapped[datetime]
    received_at: Mapped[datetime]
    clock_offset_s: Mapped[float] = mapped_column(default=0.0)
    clock_flagged: Mapped[bool] = mapped_column(default=False)
    payload_hash: Mapped[str] = mapped_column(String(64), default="")
    device_id: Mapped[str | None] = mapped_column(String(36))

    user: Mapped[User] = relationship()

    @property
    def moment(self) -> datetime:
        """When it was tapped: the phone's time unless its clock was flagged."""
        return self.received_at if self.clock_flagged else self.device_time


class AllHandsStandby(Base):
    """A standby (备勤) roster entry made for an all-hands period: declaring again never
    makes a second one for the person, and lifting closes exactly these."""

    __tablename__ = "all_hands_standby"
    __table_args__ = (
        UniqueConstraint("all_hands_id", "user_id", name="uq_all_hands_standby_person"),
    )

    entry_id: Mapped[str] = mapped_column(
        ForeignKey("roster_entry.id", ondelete="CASCADE"), primary_key=True
    )
    all_hands_id: Mapped[str] = mapped_column(ForeignKey("all_hands.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))

    all_hands: Mapped[AllHands] = relationship(back_populates="standby")
    entry: Mapped[RosterEntry] = relationship()
    user: Mapped[User] = relationship()


class AllHandsLeaveDecision(Base):
    """R7: what a manager decided about approved leave inside an all-hands period — recall
    the person or let the leave stand — with a note. The leave itself is not changed here
    (d-7: a human decision, recorded, never automatic). Appended; the latest counts."""

    __tablename__ = "all_hands_leave_decision"

    id: Mapped[intpk]
    all_hands_id: Mapped[str] = mapped_column(
        ForeignKey("all_hands.id", ondelete="CASCADE"), index=True
    )
    request_id: Mapped[str] = mapped_column(ForeignKey("roster_request.id"))
    decision: Mapped[str] = mapped_column(String(8), comment="recall / keep")
    note: Mapped[str] = mapped_column(String(500), default="")
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)

    request: Mapped[RosterRequest] = relationship()
    decided_by: Mapped[User] = relationship()
