"""The models, one module per aggregate; imported here so Alembic sees every table."""

from dutypwa.models.base import Base, utcnow
from dutypwa.models.checkpoint import CHECKPOINT_KINDS, Checkpoint, VoidedToken
from dutypwa.models.device import Device, Photo
from dutypwa.models.dutylog import (
    ENTRY_KINDS,
    FOLLOW_UP_TYPES,
    DutyEntry,
    DutyEntryEvent,
    FollowUp,
    KeyLoan,
)
from dutypwa.models.escalation import (
    LEVELS,
    Escalation,
    RepetitionReport,
    Review,
    repetition_items,
)
from dutypwa.models.finding import (
    CATEGORIES,
    MAX_PHOTOS,
    OPEN_STATES,
    OVERDUE_STATES,
    SEVERITIES,
    STATES,
    STEPS,
    Finding,
    FindingEvent,
    FindingPhoto,
)
from dutypwa.models.handover import (
    HANDOVER_STEPS,
    Handover,
    HandoverEvent,
    PostDuty,
    Station,
)
from dutypwa.models.patrol import CheckIn, CheckpointState, Route, RouteStop
from dutypwa.models.site import DEFAULT_SETTINGS, Area, Post, Site, site_members
from dutypwa.models.user import MANAGERS, ROLES, User

__all__ = [
    "CATEGORIES",
    "CHECKPOINT_KINDS",
    "DEFAULT_SETTINGS",
    "ENTRY_KINDS",
    "FOLLOW_UP_TYPES",
    "HANDOVER_STEPS",
    "LEVELS",
    "MANAGERS",
    "MAX_PHOTOS",
    "OPEN_STATES",
    "OVERDUE_STATES",
    "ROLES",
    "SEVERITIES",
    "STATES",
    "STEPS",
    "Area",
    "Base",
    "CheckIn",
    "Checkpoint",
    "CheckpointState",
    "Device",
    "DutyEntry",
    "DutyEntryEvent",
    "Escalation",
    "Finding",
    "FindingEvent",
    "FindingPhoto",
    "FollowUp",
    "Handover",
    "HandoverEvent",
    "KeyLoan",
    "Photo",
    "Post",
    "PostDuty",
    "RepetitionReport",
    "Review",
    "Route",
    "RouteStop",
    "Site",
    "Station",
    "User",
    "VoidedToken",
    "repetition_items",
    "site_members",
    "utcnow",
]
