"""People: login name (staff number or phone), roles, PIN for the shared tablet, sites."""

import hashlib
import secrets
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
# The offline PIN key (a station checks a PIN without the network): PBKDF2-SHA256, as the
# tablet's WebCrypto computes it. docs/offline.md, "Station".
PIN_KEY_ITERATIONS = 100_000


def pin_key(pin: str, salt: str, iterations: int) -> str:
    key = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), iterations)
    return f"{iterations}${salt}${key.hex()}"


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
    pin_key: Mapped[str | None] = mapped_column(
        String(200), comment="PBKDF2 key of the PIN for offline station checks: iterations$salt$key"
    )
    role: Mapped[str] = mapped_column(String(20), default="staff")
    level: Mapped[str] = mapped_column(
        String(20),
        default="staff",
        server_default="staff",
        comment="duty level for the roster (R4): staff, leader, supervisor, duty_manager, manager",
    )
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
        # A test's cheap "pbkdf2:sha256:N" makes a cheap key too.
        parts = method.split(":")
        cheap = parts[0] == "pbkdf2" and len(parts) > 2
        iterations = int(parts[2]) if cheap else PIN_KEY_ITERATIONS
        self.pin_key = pin_key(pin, secrets.token_hex(16), iterations)

    def check_pin(self, pin: str) -> bool:
        ok = bool(self.pin_hash) and check_password_hash(self.pin_hash, pin)
        if ok and not self.pin_key:  # a PIN set before offline checks existed
            self.pin_key = pin_key(pin, secrets.token_hex(16), PIN_KEY_ITERATIONS)
        return ok

    def pin_key_parts(self) -> tuple[int, str, bytes] | None:
        """(iterations, salt, key) of the offline PIN key, or None."""
        if not self.pin_key:
            return None
        iterations, salt, key = self.pin_key.split("$")
        return int(iterations), salt, bytes.fromhex(key)

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
