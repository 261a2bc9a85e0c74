"""The duty log (值班记录表, rules D1, D4–D7, D10–D12): entries of the day with their
append-only steps, made offline through the outbox like every device write; the shift's
printable duty record; the work orders and complaint records made from entries; and the
emergency-keys register.

entries.py holds the entry and step verbs, registers.py the work orders, complaint
records and keys, shifts.py the shift windows and queries, views.py and register_views.py
the blueprint's pages.
"""

from dutypwa.dutylog import register_views  # noqa: F401 (adds its routes to bp)
from dutypwa.dutylog.entries import (
    parse_entry,
    parse_entry_step,
    record_entry,
    record_entry_step,
)
from dutypwa.dutylog.views import bp

__all__ = ["bp", "parse_entry", "parse_entry_step", "record_entry", "record_entry_step"]
