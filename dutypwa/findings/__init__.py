"""Findings (问题 / 不合格项) logged on duty, from a checkpoint, an area or anywhere, and
their lifecycle pages. core.py raises one (record_finding, used by the sync API too),
lists.py reads the open-items list, views.py holds the blueprint; the rules of the steps
are in dutypwa/nonconformities.py.
"""

from dutypwa.findings.core import (
    CATEGORY_LABELS,
    SEVERITY_LABELS,
    SOURCE_LABELS,
    place_of,
    record_finding,
)
from dutypwa.findings.views import bp

__all__ = [
    "CATEGORY_LABELS",
    "SEVERITY_LABELS",
    "SOURCE_LABELS",
    "bp",
    "place_of",
    "record_finding",
]
