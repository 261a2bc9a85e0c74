"""The open-items list: its filters (from the query string) and one page of rows, read
from the (site, status, due) index, 50 at a time, without a query per row."""

from datetime import datetime

from flask import request
from sqlalchemy import or_, select, union_all
from sqlalchemy.orm import joinedload, load_only

from dutypwa.extensions import db
from dutypwa.findings.core import CATEGORY_LABELS, SEVERITY_LABELS, SOURCE_LABELS
from dutypwa.models import OPEN_STATES, SEVERITIES, STATES, Area, Checkpoint, Finding, Site, User
from dutypwa.models.finding import OVERDUE_STATES, SOURCES
from dutypwa.nonconformities import STATE_LABELS, STEP_LABELS, team_label

PAGE_SIZE = 50
# What a row shows, and nothing more: the list is read 50 rows at a time from the
# (site, status, due) index.
LIST_COLUMNS = (
    Finding.site_id,
    Finding.status,
    Finding.category,
    Finding.severity,
    Finding.source,
    Finding.item,
    Finding.description,
    Finding.location,
    Finding.due_at,
    Finding.round,
    Finding.assignee_team,
    Finding.assignee_id,
    Finding.checkpoint_id,
    Finding.area_id,
    Finding.recheck_due,
    Finding.received_at,
)


def list_filters(site: Site, people: list[User]) -> dict:
    """The list's filters from the query string; anything unknown is ignored."""
    args = request.args

    def pick(name: str, allowed) -> str:
        value = args.get(name, "")
        return value if value in allowed else ""

    assignee = args.get("assignee", "")
    persons = {f"user:{person.id}" for person in people}
    teams = {f"team:{team}" for team in site.setting("teams")}
    area = args.get("area", "")
    page = args.get("page", "1")
    return {
        "status": pick("status", (*STATES, "any")),
        "category": pick("category", site.setting("categories")),
        "severity": pick("severity", SEVERITIES),
        "source": pick("source", SOURCES),
        "assignee": assignee if assignee in {"mine", "none", *persons, *teams} else "",
        "area": area if area in {str(a.id) for a in site.areas} else "",
        "overdue": args.get("overdue") == "1",
        "q": args.get("q", "").strip()[:100],
        "page": min(int(page), 10_000) if page.isdigit() and int(page) > 0 else 1,
    }


def list_conditions(site: Site, filters: dict, *, user: User, now: datetime) -> list:
    """The filters as SQL conditions, all but the status."""
    conditions = [Finding.site_id == site.id]
    for name in ("category", "severity", "source"):
        if filters[name]:
            conditions.append(getattr(Finding, name) == filters[name])
    if filters["area"]:
        conditions.append(Finding.area_id == int(filters["area"]))
    if filters["overdue"]:
        conditions.append(Finding.due_at < now)
    assignee = filters["assignee"]
    if assignee == "mine":
        conditions.append(Finding.assignee_id == user.id)
    elif assignee == "none":
        conditions += [Finding.assignee_id.is_(None), Finding.assignee_team == ""]
    elif assignee.startswith("user:"):
        conditions.append(Finding.assignee_id == int(assignee[5:]))
    elif assignee.startswith("team:"):
        conditions.append(Finding.assignee_team == assignee[5:])
    if filters["q"]:
        escaped = filters["q"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        conditions.append(
            or_(
                Finding.description.ilike(pattern, escape="\\"),
                Finding.location.ilike(pattern, escape="\\"),
                Finding.item.ilike(pattern, escape="\\"),
            )
        )
    return conditions


def list_page(site: Site, filters: dict, *, user: User, now: datetime) -> list[Finding]:
    """One page of the filtered items (and one more, to know if a next page exists):
    open ones soonest due first (overdue on top), closed ones latest first.

    Each status is read in due order straight from the (site, status, due) index and the
    few rows of each merged: an IN over the statuses would sort every open item."""
    status = filters["status"]
    if status == "":
        statuses = OPEN_STATES
    elif status == "any":
        statuses = STATES
    else:
        statuses = (status,)
    if filters["overdue"]:  # a corrected item waits for verification, it is not late
        statuses = [one for one in statuses if one in OVERDUE_STATES]
    if not statuses:
        return []
    newest_first = status in ("closed", "any")
    conditions = list_conditions(site, filters, user=user, now=now)
    offset = (filters["page"] - 1) * PAGE_SIZE
    wanted = PAGE_SIZE + 1

    def ordered(columns):
        if newest_first:
            return (columns.due_at.desc(), columns.id.desc())
        return (columns.due_at, columns.id)

    parts = [
        select(Finding.id, Finding.due_at)
        .where(*conditions, Finding.status == one)
        .order_by(*ordered(Finding))
        .limit(offset + wanted)
        .subquery()
        for one in statuses
    ]
    if len(parts) == 1:
        merged = parts[0]
    else:
        merged = union_all(*(select(part.c.id, part.c.due_at) for part in parts)).subquery()
    ids = db.session.scalars(
        select(merged.c.id).order_by(*ordered(merged.c)).offset(offset).limit(wanted)
    ).all()
    if not ids:
        return []
    rows = db.session.scalars(
        select(Finding)
        .where(Finding.id.in_(ids))
        .options(
            load_only(*LIST_COLUMNS),
            joinedload(Finding.checkpoint).load_only(Checkpoint.name, Checkpoint.code),
            joinedload(Finding.area).load_only(Area.name),
            joinedload(Finding.assignee).load_only(User.display_name),
        )
    ).all()
    position = {finding_id: index for index, finding_id in enumerate(ids)}
    return sorted(rows, key=lambda finding: position[finding.id])


def labels(site: Site) -> dict:
    """The pages' labels, translated once per request rather than once per row."""

    def translated(lazy: dict) -> dict:
        return {key: str(label) for key, label in lazy.items()}

    return {
        "categories": {key: str(CATEGORY_LABELS[key]) for key in site.setting("categories")},
        "severities": translated(SEVERITY_LABELS),
        "states": translated(STATE_LABELS),
        "step_labels": translated(STEP_LABELS),
        "sources": translated(SOURCE_LABELS),
        "teams": {team: team_label(team) for team in site.setting("teams")},
    }
