"""A person's secret calendar feed (ICS) of their published shifts. The link carries a
random secret; only its SHA-256 is stored, so the link is shown once, and regenerating it
revokes the old one (roster/ics_views.py).
"""

import hashlib
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dutypwa.models.base import Base, created_at, intpk
from dutypwa.models.user import User


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CalendarFeed(Base):
    __tablename__ = "calendar_feed"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(
        String(64), unique=True, comment="SHA-256 of the secret in the feed's URL"
    )
    created_at: Mapped[created_at]
    revoked_at: Mapped[datetime | None] = mapped_column(comment="the link stopped working")

    user: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None
