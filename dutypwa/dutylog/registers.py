"""The registers kept next to the duty log: repair work orders (维修工程确认单) and
complaint records (投诉记录表) made from entries (D6, D7), and the emergency-keys register
(D12). Online forms; the functions add and flush, the views commit.
"""

from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from dutypwa.errors import DomainError
from dutypwa.extensions import db
from dutypwa.models import DutyEntry, FollowUp, KeyLoan, Site, User, site_members
from dutypwa.models.dutylog import FOLLOW_UP_STATES

# Which entry kind becomes which register, and its number prefix.
TYPE_OF_KIND = {"repair": "work_order", "complaint": "complaint"}
PREFIX = {"work_order": "WX", "complaint": "TS"}
TYPE_LABELS = {"work_order": _l("Work order"), "complaint": _l("Complaint record")}
STATE_LABELS = {
    "open": _l("Open"),
    "in_progress": _l("In progress"),
    "done": _l("Done"),
    "closed": _l("Closed"),
}
ACTION_LABELS = {
    "start": _l("Start work"),
    "done": _l("Mark as done"),
    "close": _l("Close with the resident's feedback"),
    "note": _l("Save the handling"),
}
# Each status change: the states it starts from and where it goes (None: stays).
FROM = {
    "start": ("open",),
    "done": ("open", "in_progress"),
    "close": ("done",),
    "note": ("open", "in_progress", "done"),
}
TARGET = {"start": "in_progress", "done": "done", "close": "closed", "note": None}
APPROVER_ROLES = ("supervisor", "director")
CLOSER_ROLES = (*APPROVER_ROLES, "admin")
assert set(TARGET.values()) - {None} <= set(FOLLOW_UP_STATES)


def type_for(entry: DutyEntry) -> str:
    follow_up_type = TYPE_OF_KIND.get(entry.kind)
    if follow_up_type is None:
        raise DomainError(
            _("Only a repair request becomes a work order and a complaint a complaint record.")
        )
    return follow_up_type


def follow_up_of(entry: DutyEntry) -> FollowUp | None:
    """The work order or complaint record already made from this entry, if any."""
    wanted = TYPE_OF_KIND.get(entry.kind)
    return next((f for f in entry.follow_ups if f.type == wanted), None)


def next_number(site: Site, follow_up_type: str, at: datetime) -> str:
    """WX-YYYYMMDD-NN / TS-YYYYMMDD-NN: per site, type and local day, from 01."""
    stem = f"{PREFIX[follow_up_type]}-{site.local(at):%Y%m%d}-"
    last = db.session.scalar(
        select(func.max(FollowUp.number)).where(
            FollowUp.site_id == site.id, FollowUp.number.like(f"{stem}%")
        )
    )
    count = int(last.rsplit("-", 1)[1]) if last else 0
    return f"{stem}{count + 1:02d}"


def create_follow_up(
    site: Site, entry: DutyEntry, *, by: User, at: datetime, team: str = ""
) -> tuple[FollowUp, bool]:
    """D6: the entry's work order (repair) or complaint record (complaint); one per
    entry: asking again returns the one made first. Returns (follow_up, created)."""
    follow_up_type = type_for(entry)
    existing = follow_up_of(entry)
    if existing is not None:
        return existing, False
    if follow_up_type == "work_order":
        teams = site.setting("teams")
        team = team or ("maintenance" if "maintenance" in teams else (teams or [""])[0])
        if team not in teams:
            raise DomainError(_("Choose one of the site's teams."))
    else:
        team = ""
    follow_up = FollowUp(
        site_id=site.id,
        entry=entry,
        type=follow_up_type,
        number=next_number(site, follow_up_type, at),
        team=team,
        title=entry.summary,
        # The work order carries what the log already knows: where (地点) and how it
        # has been handled so far (处理情况), so the team does not ask again.
        location=entry.place[:200],
        handling=entry.handling,
        created_by_id=by.id,
        created_at=at,
    )
    db.session.add(follow_up)
    db.session.flush()
    return follow_up, True


def follow_up_refusal(status: str, action: str, role: str) -> str | None:
    if action not in FROM:
        return _("That is not a status change of a work order.")
    if status == "closed":
        return _("It is closed already.")
    if action == "close" and role not in CLOSER_ROLES:
        return _("Only a supervisor can close it.")
    if status not in FROM[action]:
        if action == "close":
            return _("Close it after the work is done.")
        return _("It is done already; a supervisor closes it.")
    return None


def change_follow_up(
    follow_up: FollowUp,
    *,
    by: User,
    at: datetime,
    action: str,
    handling: str = "",
    result: str = "",
    feedback: str = "",
) -> None:
    """Move a work order or complaint record on: open → in progress → done → closed
    (closing is for a supervisor, with the resident's feedback)."""
    reason = follow_up_refusal(follow_up.status, action, by.role)
    if reason is not None:
        refused_role = action == "close" and by.role not in CLOSER_ROLES
        raise DomainError(reason, 403 if refused_role else 422)
    handling, result, feedback = handling.strip(), result.strip(), feedback.strip()
    if len(handling) > 2000 or len(result) > 2000 or len(feedback) > 200:
        raise DomainError(_("The text is too long."))
    if action == "done" and not (result or follow_up.result):
        raise DomainError(_("Write the result before marking it done."))
    if action == "close" and not feedback:
        raise DomainError(_("Write the resident's feedback."))
    if action == "note" and not (handling or result):
        raise DomainError(_("Write how it was handled or the result."))
    if handling:
        follow_up.handling = handling
    if result:
        follow_up.result = result
    if action == "done":
        follow_up.done_at = at
    if action == "close":
        follow_up.feedback = feedback
        follow_up.closed_at = at
    target = TARGET[action]
    if target is not None:
        follow_up.status = target
    db.session.flush()


def approvers(site: Site) -> list[User]:
    """D12: the duty managers of this site who may approve taking an emergency key."""
    return list(
        db.session.scalars(
            select(User)
            .join(site_members, site_members.c.user_id == User.id)
            .where(
                site_members.c.site_id == site.id,
                User.role.in_(APPROVER_ROLES),
                User.active,
            )
            .order_by(User.role.desc(), User.display_name)
        )
    )


def lend_key(
    site: Site,
    *,
    by: User,
    at: datetime,
    key_name: str,
    taken_by: str,
    purpose: str,
    approved_by_id,
    note: str = "",
) -> KeyLoan:
    """D12: an emergency key leaves the duty room only with a duty manager's approval."""
    key_name, taken_by, purpose = key_name.strip(), taken_by.strip(), purpose.strip()
    if not key_name:
        raise DomainError(_("Say which key."))
    if not taken_by:
        raise DomainError(_("Say who takes the key."))
    if len(key_name) > 100 or len(taken_by) > 60 or len(purpose) > 300 or len(note) > 300:
        raise DomainError(_("The text is too long."))
    try:
        approver_id = int(approved_by_id)
    except (TypeError, ValueError):
        approver_id = None
    approver = next((u for u in approvers(site) if u.id == approver_id), None)
    if approver is None:
        raise DomainError(
            _("An emergency key needs the approval of a supervisor or director of this site.")
        )
    loan = KeyLoan(
        site_id=site.id,
        key_name=key_name,
        taken_by=taken_by,
        purpose=purpose,
        approved_by_id=approver.id,
        recorded_by_id=by.id,
        out_at=at,
        note=note.strip(),
    )
    db.session.add(loan)
    db.session.flush()
    return loan


def return_key(loan: KeyLoan, *, by: User, at: datetime) -> None:
    """The return is written once and never changed."""
    if loan.returned_at is not None:
        raise DomainError(_("This key was already returned."), 409)
    loan.returned_at = at
    loan.returned_recorded_by_id = by.id
    db.session.flush()
