"""Devices (phones and tablets) as their outbox reports them on each sync, and photos."""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dutypwa.models.base import Base, created_at, utcnow, uuidpk
from dutypwa.models.user import User


class Device(Base):
    """A browser profile with an outbox; its id is made on the device."""

    __tablename__ = "device"

    id: Mapped[uuidpk]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    last_sync_at: Mapped[datetime] = mapped_column(default=utcnow)
    outbox_size: Mapped[int] = mapped_column(default=0, comment="unsynced ops at last sync")
    oldest_pending_at: Mapped[datetime | None] = mapped_column(comment="as the device said")
    clock_offset_s: Mapped[float] = mapped_column(default=0.0)

    user: Mapped[User | None] = relationship()


class Photo(Base):
    """A stored photo: re-encoded JPEG without EXIF, plus a thumbnail, on disk."""

    __tablename__ = "photo"

    id: Mapped[uuidpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    sha256: Mapped[str] = mapped_column(String(64), comment="of the body the device sent")
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer, comment="bytes stored")
    created_at: Mapped[created_at]
