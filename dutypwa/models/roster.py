"""The duty roster (值班安排表, R1–R7): shift templates per site and post, a site's month with
its workflow, one row per person per duty per day, and the record of every change.

A template is versioned copy-on-write (editing a used one makes version n+1), so an entry
keeps the times it was planned with. An entry has its duty date (the day the shift starts)
and its real UTC start and end, so overnight and split shifts need no special cases
(roster/times.py, roster/checks.py).
"""

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dutypwa.models.base import Base, created_at, intpk, utcnow, uuidpk
from dutypwa.models.site import Post, Site
from dutypwa.models.user import User

# R1, R3: draft → submitted → (company review, for a month with holidays) → approved →
# published.
MONTH_STATES = ("draft", "submitted", "company_review", "approved", "published")
ENTRY_SOURCES = ("manual", "pattern", "copy", "swap", "substitute", "amendment", "emergency")
ENTRY_STATES = ("planned", "replaced", "cancelled")


class ShiftTemplate(Base):
    """A shift of a site (or of one post): a code letter for the grid, a colour and one or
    more segments in minutes from the duty date's midnight (20:00–08:00 is 1200–1920)."""

    __tablename__ = "shift_template"
    __table_args__ = (Index("ix_shift_template_site_code", "site_id", "code"),)

    id: Mapped[intpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("post.id", ondelete="CASCADE"), comment="only for this post; NULL: any"
    )
    family_id: Mapped[int | None] = mapped_column(comment="id of version 1: one shift's versions")
    version: Mapped[int] = mapped_column(default=1)
    code: Mapped[str] = mapped_column(String(2), comment="typed into the grid, e.g. 早 / D")
    name: Mapped[str] = mapped_column(String(40))
    colour: Mapped[str] = mapped_column(String(7), default="#dbeafe")
    segments: Mapped[list] = mapped_column(JSON, comment="[[start_min, end_min], …]")
    retired_at: Mapped[datetime | None] = mapped_column(comment="replaced by a newer version")
    created_at: Mapped[created_at]

    site: Mapped[Site] = relationship()
    post: Mapped[Post | None] = relationship()

    @property
    def active(self) -> bool:
        return self.retired_at is None

    @property
    def minutes(self) -> tuple[tuple[int, int], ...]:
        return tuple((int(start), int(end)) for start, end in self.segments)


class PostQualification(Base):
    """A person may work at a post that asks for qualified people (R4), from … to
    (inclusive; open-ended when empty)."""

    __tablename__ = "post_qualification"
    __table_args__ = (UniqueConstraint("post_id", "user_id", name="uq_post_qualification_person"),)

    id: Mapped[intpk]
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    valid_from: Mapped[date | None]
    valid_to: Mapped[date | None]

    post: Mapped[Post] = relationship()
    user: Mapped[User] = relationship()


class RosterMonth(Base):
    """One site's roster for one month and where it stands (R1, R3). `version` goes up with
    every change, so an edit made on a stale page is refused (409)."""

    __tablename__ = "roster_month"
    __table_args__ = (UniqueConstraint("site_id", "month", name="uq_roster_month_site_month"),)

    id: Mapped[intpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7), comment="YYYY-MM")
    version: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    requires_company_review: Mapped[bool] = mapped_column(
        default=False, comment="R3: the month has holidays or rest days"
    )
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    submitted_at: Mapped[datetime | None]
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    reviewed_at: Mapped[datetime | None]
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    approved_at: Mapped[datetime | None]
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    published_at: Mapped[datetime | None]
    comment: Mapped[str] = mapped_column(String(500), default="", comment="last review's note")
    created_at: Mapped[created_at]

    site: Mapped[Site] = relationship()
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    published_by: Mapped[User | None] = relationship(foreign_keys=[published_by_id])
    rows: Mapped[list["RosterRow"]] = relationship(
        back_populates="month", order_by="RosterRow.position", cascade="all, delete-orphan"
    )

    @property
    def published(self) -> bool:
        return self.status == "published"


class RosterRow(Base):
    """A line of the month grid: a person under a post (a person may be under two)."""

    __tablename__ = "roster_row"
    __table_args__ = (
        UniqueConstraint("month_id", "post_id", "user_id", name="uq_roster_row_person"),
    )

    id: Mapped[intpk]
    month_id: Mapped[int] = mapped_column(ForeignKey("roster_month.id", ondelete="CASCADE"))
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)

    month: Mapped[RosterMonth] = relationship(back_populates="rows")
    post: Mapped[Post] = relationship()
    user: Mapped[User] = relationship()


class RosterEntry(Base):
    """One person on one duty on one duty date (the day the shift starts), with its real
    times in UTC. Replaced or cancelled entries stay (the calendar feed and the record of
    changes need them)."""

    __tablename__ = "roster_entry"
    __table_args__ = (
        Index("ix_roster_entry_month_status", "month_id", "status"),
        Index("ix_roster_entry_user_start", "user_id", "start_at"),
        Index("ix_roster_entry_post_start", "post_id", "start_at"),
    )

    id: Mapped[uuidpk]
    month_id: Mapped[int] = mapped_column(ForeignKey("roster_month.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id"))
    template_id: Mapped[int] = mapped_column(ForeignKey("shift_template.id"))
    duty_date: Mapped[date]
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    segments: Mapped[list] = mapped_column(JSON, comment="[[start ISO, end ISO], …] in UTC")
    day_kind: Mapped[str | None] = mapped_column(
        String(20), comment="the holiday kind when published (frozen)"
    )
    source: Mapped[str] = mapped_column(String(12), default="manual")
    status: Mapped[str] = mapped_column(String(10), default="planned")
    ical_sequence: Mapped[int] = mapped_column(default=0, comment="ICS SEQUENCE")
    created_at: Mapped[created_at]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    month: Mapped[RosterMonth] = relationship()
    user: Mapped[User] = relationship()
    post: Mapped[Post] = relationship()
    template: Mapped[ShiftTemplate] = relationship()

    @property
    def times(self) -> tuple[tuple[datetime, datetime], ...]:
        return tuple(
            (datetime.fromisoformat(start), datetime.fromisoformat(end))
            for start, end in self.segments
        )


class RosterChange(Base):
    """Who changed what on a month, when and why (R1: a change after publishing is
    recorded, never silent). Appended, never changed."""

    __tablename__ = "roster_change"

    id: Mapped[intpk]
    month_id: Mapped[int] = mapped_column(
        ForeignKey("roster_month.id", ondelete="CASCADE"), index=True
    )
    entry_id: Mapped[str | None] = mapped_column(String(36))
    actor_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    action: Mapped[str] = mapped_column(String(20))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(500), default="")
    version: Mapped[int] = mapped_column(comment="the month's version after the change")
    at: Mapped[datetime] = mapped_column(default=utcnow)

    actor: Mapped[User] = relationship()
