"""Checkpoints (巡查点) with their QR token, and the tokens of labels that were replaced."""

import re
import secrets
import unicodedata
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dutypwa.models.base import Base, created_at, intpk, utcnow
from dutypwa.models.site import Area, Site

CHECKPOINT_KINDS = ("garden", "equipment", "other")


def new_token() -> str:
    """128 random bits, URL-safe (the design asks for at least 80)."""
    return secrets.token_urlsafe(16)


def code_key(code: str) -> str:
    """What a typed short code means: "7", "007", "０07" and " 0 07 " are the same checkpoint,
    so are "a-7" and "A-007". Full-width forms become ASCII, spaces go, letters are upper
    case, each run of digits loses its leading zeros. static/scan.js does the same offline
    (service-worker/codes.js; both run tests/code_keys.json)."""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", code or "")).upper()
    return re.sub(r"[0-9]+", lambda digits: digits.group().lstrip("0") or "0", text)


class Checkpoint(Base):
    __tablename__ = "checkpoint"
    __table_args__ = (UniqueConstraint("site_id", "code", name="uq_checkpoint_site_code"),)

    id: Mapped[intpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20), default="garden")
    description: Mapped[str] = mapped_column(String(500), default="")
    checklist: Mapped[list] = mapped_column(
        JSON, default=list, comment="items checked at each visit (equipment checkpoints)"
    )
    active: Mapped[bool] = mapped_column(default=True)
    token: Mapped[str] = mapped_column(String(40), unique=True, default=new_token)
    code: Mapped[str] = mapped_column(String(12), comment="short code printed under the QR")
    created_at: Mapped[created_at]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    site: Mapped[Site] = relationship()
    area: Mapped[Area | None] = relationship()

    def reissue_token(self, *, by_user_id: int | None) -> "VoidedToken":
        """Give the checkpoint a new token; the old label stops working (answers 410)."""
        voided = VoidedToken(token=self.token, checkpoint=self, voided_by_id=by_user_id)
        self.token = new_token()
        self.updated_at = utcnow()
        return voided

    def __repr__(self) -> str:
        return f"<Checkpoint {self.code} {self.name}>"


def listing_order() -> tuple:
    """How checkpoints are listed everywhere: by area, then code; those without an area
    last (SQLite and PostgreSQL sort NULL differently unless told)."""
    return (Area.position.nulls_last(), Area.name.nulls_last(), Checkpoint.code)


class VoidedToken(Base):
    """A token whose printed label was replaced: scanning it explains that, records nothing."""

    __tablename__ = "voided_token"

    token: Mapped[str] = mapped_column(String(40), primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoint.id", ondelete="CASCADE"))
    voided_at: Mapped[datetime] = mapped_column(default=utcnow)
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    checkpoint: Mapped[Checkpoint] = relationship()
