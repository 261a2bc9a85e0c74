"""The models, one module per aggregate; imported here so Alembic sees every table."""

from dutypwa.models.base import Base, utcnow
from dutypwa.models.checkpoint import CHECKPOINT_KINDS, Checkpoint, VoidedToken
from dutypwa.models.patrol import CheckIn, CheckpointState, Finding, Route, RouteStop
from dutypwa.models.site import Area, Post, Site, site_members
from dutypwa.models.user import MANAGERS, ROLES, User

__all__ = [
    "CHECKPOINT_KINDS",
    "MANAGERS",
    "ROLES",
    "Area",
    "Base",
    "CheckIn",
    "Checkpoint",
    "CheckpointState",
    "Finding",
    "Post",
    "Route",
    "RouteStop",
    "Site",
    "User",
    "VoidedToken",
    "site_members",
    "utcnow",
]
