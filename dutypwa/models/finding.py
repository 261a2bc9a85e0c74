"""Findings (问题 / 不合格项) recorded on duty, with their photos.

A finding is a fact made on a device: its id is a client UUID, so a replay is a
duplicate. It comes from a "not OK" checklist item of a check-in, or is logged from a
checkpoint, an area or anywhere. The nonconformity workflow (assign, correct, verify)
builds on these records.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
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
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    device_time: Mapped[datetime | None] = mapped_column(comment="the device clock")
    received_at: Mapped[datetime] = mapped_column(default=utcnow, comment="server clock")
    clock_offset_s: Mapped[float] = mapped_column(default=0.0)
    clock_flagged: Mapped[bool] = mapped_column(default=False)
    payload_hash: Mapped[str] = mapped_column(String(64), default="")
    device_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[created_at]

    checkin: Mapped[CheckIn | None] = relationship(back_populates="findings")
    checkpoint: Mapped[Checkpoint | None] = relationship()
    area: Mapped[Area | None] = relationship()
    created_by: Mapped[User | None] = relationship()
    photos: Mapped[list["FindingPhoto"]] = relationship(
        order_by="FindingPhoto.position", cascade="all, delete-orphan"
    )


class FindingPhoto(Base):
    """A photo named by a finding. The photo itself may arrive before or after the
    finding (the device uploads it separately), so there is no foreign key to it."""

    __tablename__ = "finding_photo"

    finding_id: Mapped[str] = mapped_column(
        ForeignKey("finding.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[str] = mapped_column(String(36), index=True)
