"""A site's duty settings (Site.settings over DEFAULT_SETTINGS): categories, due and
response times, acknowledgement times per level, the emergency arrival target (D11), the
repetition rule (D8), teams, the night shift (D7), and the roster's and comp time's rules
(rest, days in a row, overtime, notice R4, expiry R6). Only values that differ from the
defaults are stored, so a site follows later changes of the defaults it never touched.
"""

import re

from flask import Blueprint, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from dutypwa.access import roles_required, site_or_403
from dutypwa.dutylog.entries import KIND_LABELS
from dutypwa.extensions import db
from dutypwa.findings import CATEGORY_LABELS, SEVERITY_LABELS
from dutypwa.http import render
from dutypwa.models import CATEGORIES, DEFAULT_SETTINGS, ENTRY_KINDS, MANAGERS, SEVERITIES, Site
from dutypwa.nonconformities import TEAM_LABELS

bp = Blueprint("settings", __name__)

BUILT_IN_TEAMS = tuple(TEAM_LABELS)
LEVELS = {"2": _l("Supervisor"), "3": _l("Director")}
# (smallest, largest) allowed for each number.
LIMITS = {
    "due_hours": (1, 2160),
    "respond_minutes": (1, 10080),
    "ack_minutes": (1, 1440),
    "emergency_arrival_minutes": (1, 240),
    "repetition_count": (2, 50),
    "repetition_days": (1, 365),
    "roster_min_rest_hours": (0, 48),
    "roster_max_consecutive_days": (1, 31),
    "roster_overtime_cap_hours": (0, 200),
    "roster_request_notice_days": (0, 30),
    "comp_expiry_days": (0, 3650),
}
MAX_TEAMS = 20
TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _number(form, name: str, limits: tuple[int, int], errors: dict, label) -> int | None:
    raw = (form.get(name) or "").strip()
    low, high = limits
    if not raw.isdigit() or not low <= int(raw) <= high:
        message = _("%(what)s: give a whole number from %(low)d to %(high)d.", what=label,
                    low=low, high=high)  # fmt: skip
        errors[name] = message
        return None
    return int(raw)


def parse_settings(form) -> tuple[dict, dict]:
    """The settings form, checked: (values, errors by field name)."""
    errors: dict[str, str] = {}
    values: dict = {}

    chosen = [c for c in CATEGORIES if form.get(f"category_{c}")]
    positions = {}
    for category in chosen:
        raw = (form.get(f"position_{category}") or "").strip()
        if not raw.isdigit():
            errors[f"position_{category}"] = _(
                "%(what)s: give its place in the list as a number.",
                what=CATEGORY_LABELS[category],
            )
        positions[category] = int(raw) if raw.isdigit() else 0
    if not chosen:
        errors["categories"] = _("Keep at least one category.")
    values["categories"] = sorted(chosen, key=lambda c: (positions[c], CATEGORIES.index(c)))

    values["due_hours"] = {
        severity: _number(form, f"due_hours_{severity}", LIMITS["due_hours"], errors,
                          SEVERITY_LABELS[severity])
        for severity in SEVERITIES
    }  # fmt: skip
    values["respond_minutes"] = {
        kind: _number(form, f"respond_minutes_{kind}", LIMITS["respond_minutes"], errors,
                      KIND_LABELS[kind])
        for kind in ENTRY_KINDS
    }  # fmt: skip
    values["ack_minutes"] = {
        level: _number(form, f"ack_minutes_{level}", LIMITS["ack_minutes"], errors, label)
        for level, label in LEVELS.items()
    }
    for name, label in (
        ("emergency_arrival_minutes", _l("Emergency arrival")),
        ("repetition_count", _l("Times")),
        ("repetition_days", _l("Days")),
    ):
        values[name] = _number(form, name, LIMITS[name], errors, label)

    teams = [team for team in BUILT_IN_TEAMS if form.get(f"team_{team}")]
    for line in (form.get("other_teams") or "").splitlines():
        team = line.strip()
        if not team:
            continue
        if len(team) > 40:
            errors["other_teams"] = _("A team's name has at most 40 characters.")
        elif team not in teams:
            teams.append(team)
    if not teams:
        errors["teams"] = _("Keep at least one team.")
    elif len(teams) > MAX_TEAMS:
        errors["teams"] = _("At most %(n)d teams.", n=MAX_TEAMS)
    values["teams"] = teams

    for name, label in (
        ("roster_min_rest_hours", _l("Rest between two shifts")),
        ("roster_max_consecutive_days", _l("Days on duty in a row")),
        ("roster_overtime_cap_hours", _l("Overtime in a month")),
        ("roster_request_notice_days", _l("Notice for leave and swaps")),
        ("comp_expiry_days", _l("Comp time expiry")),
    ):
        values[name] = _number(form, name, LIMITS[name], errors, label)
    values["roster_rest_severity"] = form.get("roster_rest_severity", "warn")
    if values["roster_rest_severity"] not in ("warn", "hard"):
        errors["roster_rest_severity"] = _("Choose a warning or a refusal.")
    values["comp_allow_negative"] = bool(form.get("comp_allow_negative"))

    for name in ("night_start", "night_end"):
        value = (form.get(name) or "").strip()
        if not TIME.match(value):
            errors[name] = _("Give the time as HH:MM, for example 20:00.")
        values[name] = value
    if "night_start" not in errors and values["night_start"] == values["night_end"]:
        errors["night_end"] = _("The night shift cannot start and end at the same time.")
    return values, errors


def update_settings(site: Site, values: dict) -> list[str]:
    """Store the values that differ from the defaults; returns the keys stored."""
    # A setting the form does not show stays as it was.
    kept = {k: v for k, v in (site.settings or {}).items() if k not in values}
    changed = {k: v for k, v in values.items() if v != DEFAULT_SETTINGS[k]}
    site.settings = {**kept, **changed}  # a new dict, so the JSON column sees the change
    db.session.flush()
    return sorted(changed)


def form_context(site: Site, values: dict | None = None, **extra) -> dict:
    values = values or {key: site.setting(key) for key in DEFAULT_SETTINGS}
    categories = list(values["categories"]) + [
        c for c in CATEGORIES if c not in values["categories"]
    ]
    return {
        "site": site,
        "values": values,
        "category_order": categories,
        "categories": CATEGORY_LABELS,
        "severities": SEVERITY_LABELS,
        "kinds": KIND_LABELS,
        "levels": LEVELS,
        "team_labels": TEAM_LABELS,
        "other_teams": [t for t in values["teams"] if t not in BUILT_IN_TEAMS],
        "errors": {},
        "saved": False,
        **extra,
    }


@bp.get("/s/<site_code>/settings")
@roles_required(*MANAGERS)
def edit(site_code: str):
    site = site_or_403(site_code)
    return render("supervisor/settings.html", **form_context(site))


@bp.post("/s/<site_code>/settings")
@roles_required(*MANAGERS)
def update(site_code: str):
    site = site_or_403(site_code)
    values, errors = parse_settings(request.form)
    if errors:
        context = form_context(site, values, errors=errors)
        return render("supervisor/settings.html", "supervisor/_settings_form.html", status=422,
                      **context)  # fmt: skip
    update_settings(site, values)
    db.session.commit()
    return render("supervisor/settings.html", "supervisor/_settings_form.html",
                  **form_context(site, saved=True))  # fmt: skip
