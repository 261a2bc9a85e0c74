"""A request to change the roster (R4): leave, a swap with a colleague or a substitute. Staff
only ask; a supervisor decides, and only an approval changes the roster
(dutypwa/roster/requests.py). A fact made on a device: its id is the client's op id, so an
offline resend is the same request."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dutypwa.models.base import Base, uuidpk
from dutypwa.models.roster import RosterEntry
from dutypwa.models.site import Site
from dutypwa.models.user import User

REQUEST_KINDS = ("leave", "comp_leave", "swap", "substitute")
# Kinds that take days off: comp leave (补休, R6) is leave paid from the comp-time balance.
LEAVE_KINDS = ("leave", "comp_leave")
# pending → approved | rejected (a supervisor) | cancelled (the requester) | expired (its
# first shift began undecided) | superseded (another approval changed its shifts first).
REQUEST_STATES = ("pending", "approved", "rejected", "cancelled", "expired", "superseded")


class RosterRequest(Base):
    __tablename__ = "roster_request"
    __table_args__ = (
        Index("ix_roster_request_site_status", "site_id", "status"),
        Index("ix_roster_request_requester_received", "requester_id", "received_at"),
    )

    id: Mapped[uuidpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    kind: Mapped[str] = mapped_column(String(12), comment="leave / swap / substitute")
    requester_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    entry_id: Mapped[str | None] = mapped_column(
        ForeignKey("roster_entry.id"), comment="swap, substitute: the requester's shift"
    )
    counterpart_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id"), comment="swap: the colleague"
    )
    counterpart_entry_id: Mapped[str | None] = mapped_column(
        ForeignKey("roster_entry.id"), comment="swap: the colleague's shift"
    )
    substitute_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id"), comment="substitute: who the requester proposes"
    )
    leave_from: Mapped[datetime | None] = mapped_column(comment="leave: from (UTC, included)")
    leave_to: Mapped[datetime | None] = mapped_column(comment="leave: to (UTC, excluded)")
    entry_ids: Mapped[list] = mapped_column(
        JSON, default=list, comment="the shifts it touches, as when made; a leave's: inside it"
    )
    reason: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(12), default="pending")
    expires_at: Mapped[datetime] = mapped_column(
        comment="the start of its first shift (or of the leave): undecided then, it expires"
    )
    roster_version_seen: Mapped[int | None] = mapped_column(
        comment="the month's version the requester saw"
    )
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id"), comment="empty when the app closed it (expired, superseded)"
    )
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str] = mapped_column(
        String(500), default="", comment="the approver's note, or why it was closed"
    )
    cover: Mapped[dict | None] = mapped_column(
        JSON, comment="approved: who took each shift, {entry id: user id or null}"
    )
    checks: Mapped[list | None] = mapped_column(
        JSON, comment="the rule checks at the decision, frozen: [{code, severity, text}]"
    )
    device_time: Mapped[datetime | None]
    received_at: Mapped[datetime]
    clock_offset_s: Mapped[float] = mapped_column(default=0.0)
    clock_flagged: Mapped[bool] = mapped_column(default=False)
    payload_hash: Mapped[str] = mapped_column(String(64), default="")
    device_id: Mapped[str | None] = mapped_column(String(36))

    site: Mapped[Site] = relationship()
    requester: Mapped[User] = relationship(foreign_keys=[requester_id])
    entry: Mapped[RosterEntry | None] = relationship(foreign_keys=[entry_id])
    counterpart: Mapped[User | None] = relationship(foreign_keys=[counterpart_id])
    counterpart_entry: Mapped[RosterEntry | None] = relationship(
        foreign_keys=[counterpart_entry_id]
    )
    substitute: Mapped[User | None] = relationship(foreign_keys=[substitute_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    @property
    def is_leave(self) -> bool:
        return self.kind in LEAVE_KINDS

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def when(self) -> datetime:
        """When it was asked: the phone's time unless its clock was flagged (R4's notice)."""
        if self.device_time is not None and not self.clock_flagged:
            return self.device_time
        return self.received_at
