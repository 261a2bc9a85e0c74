"""The holiday calendar (R3): for each year, whether the State Council's arrangement is
known (published / estimated / unknown); for each special date, its kind — statutory
holiday (法定节假日), rest day (调休 or 补假) or make-up working day (调休上班). Ordinary
weekdays and weekends are not stored. Seeding and the queries: dutypwa/roster/holidays.py.
"""

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dutypwa.models.base import Base
from dutypwa.models.user import User

HOLIDAY_KINDS = ("statutory", "rest", "makeup_workday")
YEAR_STATUSES = ("published", "estimated", "unknown")
DAY_SOURCES = ("lib", "manual")
# Stable codes of the holidays in the State Council's notices, with the names they use.
HOLIDAY_CODES = {
    "new_year": "元旦",
    "spring_festival": "春节",
    "qingming": "清明节",
    "labour_day": "劳动节",
    "dragon_boat": "端午节",
    "mid_autumn": "中秋节",
    "national_day": "国庆节",
    "victory_day_70": "抗战胜利70周年纪念日",  # 2015-09-03, a one-off statutory day
    "other": "其他",
}


class HolidayYear(Base):
    """One year's arrangement. Seeding sets its status from the libraries until an admin
    confirms it against the notice; after that seeding leaves the year alone."""

    __tablename__ = "holiday_year"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(
        String(20), default="unknown", comment="published / estimated / unknown"
    )
    notice_url: Mapped[str | None] = mapped_column(String(500), comment="the State Council notice")
    notice_date: Mapped[date | None] = mapped_column(comment="the day the notice was published")
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(
        comment="an admin checked the days against the notice; seeding keeps the year as it is"
    )
    source_versions: Mapped[dict] = mapped_column(
        JSON, default=dict, comment='library versions of the last seeding: {"holidays": "0.109", …}'
    )

    confirmed_by: Mapped[User | None] = relationship()
    days: Mapped[list["HolidayDay"]] = relationship(
        back_populates="holiday_year", order_by="HolidayDay.day"
    )

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None

    def __repr__(self) -> str:
        return f"<HolidayYear {self.year} {self.status}>"


class HolidayDay(Base):
    """A date that is not an ordinary weekday or weekend day."""

    __tablename__ = "holiday_day"

    day: Mapped[date] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(ForeignKey("holiday_year.year"), index=True)
    kind: Mapped[str] = mapped_column(
        String(20), comment="statutory (法定) / rest (调休, 补假) / makeup_workday (调休上班)"
    )
    holiday_code: Mapped[str] = mapped_column(
        String(30), comment="stable code of the holiday: new_year, spring_festival, …"
    )
    name_zh: Mapped[str] = mapped_column(String(100), comment="the name the notice uses")
    substitutes_for: Mapped[date | None] = mapped_column(
        comment="the other day of a swap: a 调休 rest day's make-up working day and back, "
        "a 补假 day's statutory day on the weekend"
    )
    source: Mapped[str] = mapped_column(
        String(10),
        default="lib",
        comment="lib: seeded, replaced by the next seeding; manual: an admin's, never overwritten",
    )
    note: Mapped[str] = mapped_column(String(200), default="")

    holiday_year: Mapped[HolidayYear] = relationship(back_populates="days")

    def __repr__(self) -> str:
        return f"<HolidayDay {self.day} {self.kind}>"
