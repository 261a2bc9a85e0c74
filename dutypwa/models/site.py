"""Sites (管理处), their areas (区域) and staffed posts (岗位)."""

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Column, ForeignKey, String, Table, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dutypwa.models.base import Base, created_at, intpk, utcnow

site_members = Table(
    "site_member",
    Base.metadata,
    Column("user_id", ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("site.id", ondelete="CASCADE"), primary_key=True),
)


# Per-site settings of the duty work (issue 4); a site stores only what it changed.
DEFAULT_SETTINGS = {
    # Nonconformity categories offered on the forms, in this order.
    "categories": [
        "garden", "equipment", "hygiene", "safety", "lighting", "facilities", "discipline",
        "other",
    ],
    # Correction due after raising, by severity, in hours.
    "due_hours": {"urgent": 2, "normal": 24, "low": 168},
    # Response due for a duty-log entry, by kind, in minutes.
    "respond_minutes": {
        "inquiry": 30, "help": 15, "complaint": 60, "repair": 120, "incident": 30,
        "emergency": 10, "patrol_note": 1440,
    },
    # How long a level has to acknowledge an escalation before it goes up, in minutes.
    "ack_minutes": {"2": 15, "3": 30},
    # D11: the general duty officer is on the scene of an emergency within this time.
    "emergency_arrival_minutes": 30,
    # D8: the same category at the same place `count` times in `days` days.
    "repetition_count": 3,
    "repetition_days": 30,
    # Teams a nonconformity or a work order can be assigned to.
    "teams": ["maintenance", "cleaning", "greening", "security"],
    # D7: the night shift, local times.
    "night_start": "20:00",
    "night_end": "08:00",
    # The roster's checks (roster/checks.py): rest between shifts (warn or hard), days in a
    # row, overtime in a month (劳动法第41条: 36 h), and R4's notice for requests, in days.
    "roster_min_rest_hours": 11,
    "roster_rest_severity": "warn",
    "roster_max_consecutive_days": 6,
    "roster_overtime_cap_hours": 36,
    "roster_request_notice_days": 1,
    # R6: comp time (补休) is taken within this many days of the duty ("安排调休 within one
    # month"); 0: it never expires. May a balance go below zero?
    "comp_expiry_days": 30,
    "comp_allow_negative": False,
    # R6: does duty worked on a statutory holiday (法定节假日) earn comp time? By law it is
    # paid at 300 % and cannot be replaced by time off, so by default it earns none.
    "comp_statutory_accrues": False,
}  # fmt: skip


class Site(Base):
    __tablename__ = "site"

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    settings: Mapped[dict] = mapped_column(
        JSON, default=dict, comment="overrides of DEFAULT_SETTINGS"
    )
    created_at: Mapped[created_at]

    areas: Mapped[list["Area"]] = relationship(
        back_populates="site", order_by="Area.position, Area.name"
    )
    posts: Mapped[list["Post"]] = relationship(back_populates="site", order_by="Post.name")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, moment: datetime) -> datetime:
        """A UTC moment in the site's time zone."""
        return moment.astimezone(self.tz)

    def now(self) -> datetime:
        return utcnow().astimezone(self.tz)

    def setting(self, key: str):
        """A duty setting: the site's own value, else the default."""
        return (self.settings or {}).get(key, DEFAULT_SETTINGS[key])

    def __repr__(self) -> str:
        return f"<Site {self.code}>"


class Area(Base):
    __tablename__ = "area"
    __table_args__ = (UniqueConstraint("site_id", "name", name="uq_area_site_name"),)

    id: Mapped[intpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0, comment="order on lists and label sheets")

    site: Mapped[Site] = relationship(back_populates="areas")


class Post(Base):
    """A staffed place: its inventory is counted and its shifts change at set times."""

    __tablename__ = "post"
    __table_args__ = (UniqueConstraint("site_id", "name", name="uq_post_site_name"),)

    id: Mapped[intpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    inventory: Mapped[list] = mapped_column(
        JSON, default=list, comment='items handed over each shift: [{"name": …, "count": n}]'
    )
    shift_changes: Mapped[list] = mapped_column(
        JSON, default=list, comment='local shift-change times, ["08:00", "20:00"]'
    )
    never_unstaffed: Mapped[bool] = mapped_column(
        default=False, server_default=false(), comment="R5: someone on duty at every minute"
    )
    required_level: Mapped[str] = mapped_column(
        String(20), default="staff", server_default="staff", comment="R4: the level it takes"
    )
    needs_qualification: Mapped[bool] = mapped_column(
        default=False, server_default=false(), comment="only people qualified for it (R4)"
    )

    site: Mapped[Site] = relationship(back_populates="posts")
