"""The handover's rule table (交接班, H1–H12) as pure functions: which step a person may take
now, and what counts as late. The views, the sync API and the tablet's own script ask
these; nothing here touches the database.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import gettext as _

# The order of the regulations: count, read the log, check the area, the outgoing
# person's summary, then both sign — the incoming person first (H5), the outgoing person
# last, and only then may they leave (H8).
ORDER = ("arrive", "inventory", "log_review", "area_check", "summary", "sign_incoming",
         "sign_outgoing")  # fmt: skip
# Who takes each step. The outgoing person's explanations (H2, H4) are typed into the
# incoming person's count and check, at the same tablet; their signature covers them.
TAKER = {
    "arrive": "incoming",
    "inventory": "incoming",
    "log_review": "incoming",
    "area_check": "incoming",
    "summary": "outgoing",
    "sign_incoming": "incoming",
    "sign_outgoing": "outgoing",
    "override": "supervisor",
    "cancel": "any",
}
# H1: the relief arrives at least this long before the shift starts.
EARLY = timedelta(minutes=5)


@dataclass(frozen=True)
class State:
    """What the rules need to know about a handover."""

    status: str = "open"
    done: frozenset = field(default_factory=frozenset)
    has_outgoing: bool = True
    blocked: bool = False  # H9: important open work not finished
    overridden: bool = False


def needed(state: State) -> tuple[str, ...]:
    """The steps this handover needs, in order (no outgoing person: no summary, one
    signature)."""
    if state.has_outgoing:
        return ORDER
    return tuple(step for step in ORDER if step not in ("summary", "sign_outgoing"))


def next_step(state: State) -> str | None:
    for step in needed(state):
        if step not in state.done:
            return step
    return None


def refusal(state: State, action: str, who: str) -> str | None:
    """Why `who` ("incoming", "outgoing", "supervisor" or "other") may not take `action`
    now, or None if they may."""
    if action not in TAKER:
        return _("That is not a step of a handover.")
    if state.status == "signed":
        return _("This handover is already signed by both.")
    if state.status == "cancelled":
        return _("This handover was cancelled.")
    taker = TAKER[action]
    if action == "cancel":
        if who == "other":
            return _("Only the two people of the handover or a supervisor can cancel it.")
        if "sign_incoming" in state.done:
            return _("It is signed already; it can no longer be cancelled.")
        return None
    if action == "override":
        if who != "supervisor":
            return _("Only a supervisor can let unfinished important work pass.")
        if not state.blocked:
            return _("Nothing blocks this handover.")
        if state.overridden:
            return _("A supervisor has already let it pass.")
        return None
    if action not in needed(state):
        return _("This handover has no outgoing person.")
    if who != taker:
        if action == "sign_outgoing" or action == "summary":
            return _("Only the outgoing person can do this.")
        return _("Only the incoming person can do this.")
    if action == "sign_outgoing" and "sign_incoming" not in state.done:
        return _("The relief signs first; the outgoing person signs last and may then leave.")
    if "sign_incoming" in state.done and action != "sign_outgoing":
        return _("The relief has signed; the handover can no longer be changed.")
    steps = needed(state)
    missing = [step for step in steps[: steps.index(action)] if step not in state.done]
    if missing:
        return _("Do the steps in order: first %(step)s.", step=STEP_TITLES[missing[0]]())
    if action.startswith("sign_") and state.blocked and not state.overridden:
        return _(
            "Important work is not finished: finish it, or a supervisor lets it pass with a reason."
        )
    return None


def lateness(arrived_at: datetime, shift_start: datetime) -> tuple[bool, int]:
    """(on time, minutes late): on time means at least 5 minutes early (H1); late is
    counted from that point (H11)."""
    deadline = shift_start - EARLY
    if arrived_at <= deadline:
        return True, 0
    return False, int((arrived_at - deadline).total_seconds() // 60) or 1


STEP_TITLES = {
    "arrive": lambda: _("Check in at the post"),
    "inventory": lambda: _("Count the items"),
    "log_review": lambda: _("Review the duty log"),
    "area_check": lambda: _("Check the area"),
    "summary": lambda: _("Outgoing summary"),
    "sign_incoming": lambda: _("Relief signs"),
    "sign_outgoing": lambda: _("Outgoing person signs"),
    "override": lambda: _("Supervisor override"),
    "cancel": lambda: _("Cancel"),
}
