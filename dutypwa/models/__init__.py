"""The models, one module per aggregate; imported here so Alembic sees every table."""

from dutypwa.models.base import Base, utcnow
from dutypwa.models.checkpoint import CHECKPOINT_KINDS, Checkpoint, VoidedToken
from dutypwa.models.device import Device, Photo
from dutypwa.models.finding import CATEGORIES, MAX_PHOTOS, SEVERITIES, Finding, FindingPhoto
from dutypwa.models.patrol import CheckIn, CheckpointState, Route, RouteStop
from dutypwa.models.site import Area, Post, Site, site_members
from dutypwa.models.user import MANAGERS, ROLES, User

__all__ = [
    "CATEGORIES",
    "CHECKPOINT_KINDS",
    "MANAGERS",
    "MAX_PHOTOS",
    "ROLES",
    "SEVERITIES",
    "Area",
    "Base",
    "CheckIn",
    "Checkpoint",
    "CheckpointState",
    "Device",
    "Finding",
    "FindingPhoto",
    "Photo",
    "Post",
    "Route",
    "RouteStop",
    "Site",
    "User",
    "VoidedToken",
    "site_members",
    "utcnow",
]
