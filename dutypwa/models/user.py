"""People: login name (staff number or phone), roles, PIN for the shared tablet, sites."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from dutypwa.models.base import Base, created_at, intpk
from dutypwa.models.site import Site, site_members

ROLES = ("staff", "supervisor", "director", "admin")
# Roles that watch coverage and manage a site's places; the admin manages everything.
MANAGERS = ("supervisor", "director", "admin")


class User(UserMixin, Base):
    __tablename__ = "user"

    id: Mapped[intpk]
    username: Mapped[str] = mapped_column(String(40), unique=True, comment="staff no. or phone")
    display_name: Mapped[str] = mapped_column(String(60))
    password_hash: Mapped[str] = mapped_column(String(255))
    pin_hash: Mapped[str | None] = mapped_column(String(255), comment="shared-tablet PIN")
    pin_failures: Mapped[int] = mapped_column(
        default=0, server_default="0", comment="wrong PINs in a row"
    )
    pin_locked_until: Mapped[datetime | None] = mapped_column(comment="PIN lockout")
    role: Mapped[str] = mapped_column(String(20), default="staff")
    locale: Mapped[str | None] = mapped_column(String(10), comment="chosen UI language")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[created_at]

    sites: Mapped[list[Site]] = relationship(secondary=site_members, order_by=Site.code)

    @property
    def is_active(self) -> bool:
        return self.active

    def set_password(self, password: str, method: str = "scrypt") -> None:
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def set_pin(self, pin: str, method: str = "scrypt") -> None:
        self.pin_hash = generate_password_hash(pin, method=method)

    def check_pin(self, pin: str) -> bool:
        return bool(self.pin_hash) and check_password_hash(self.pin_hash, pin)

    @property
    def is_manager(self) -> bool:
        return self.role in MANAGERS

    def visible_sites_query(self):
        """The sites this person may see: their own, or every site for an admin."""
        query = select(Site).order_by(Site.code)
        if self.role != "admin":
            query = query.join(site_members).where(site_members.c.user_id == self.id)
        return query

    def can_see_site(self, site: Site) -> bool:
        return self.role == "admin" or any(s.id == site.id for s in self.sites)

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"
