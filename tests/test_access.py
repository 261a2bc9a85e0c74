"""Authorisation matrix: every route × every role × own / other site.

EXPECTED names, for every endpoint in the app, the roles that may use it. A new route that
is missing here fails the suite, so nobody adds a route without deciding who may use it.
"""

from datetime import UTC, datetime

import pytest

from dutypwa.dutylog import record_entry
from dutypwa.escalation import escalate
from dutypwa.extensions import db
from dutypwa.findings import record_finding
from dutypwa.handover import arrive, enrol_station
from dutypwa.models import ROLES, Photo, RepetitionReport, RosterMonth, ShiftTemplate
from dutypwa.models.dutylog import FollowUp, KeyLoan
from dutypwa.patrol import record_checkin
from dutypwa.roster.ics import create_feed
from tests.conftest import new_op_id

EVERYONE = set(ROLES)
MANAGERS = {"supervisor", "director", "admin"}
ADMIN = {"admin"}
PUBLIC = None  # no login needed
API = "api"  # the sync API: any logged-in role, 401 (not a redirect) without a session
STATION = "station"  # a tablet enrolled as a post's station (its cookie), not a role: 403 without
# The sync API a station also uses (its handover ops, their photos): API for people, and a
# station is not asked to log in (401) either.
API_AND_STATION = "api+station"
STATION_API = "station api"

EXPECTED = {
    "auth.login": PUBLIC,
    "auth.language": PUBLIC,
    "auth.logout": EVERYONE,
    "auth.home": EVERYONE,
    "patrol.checkpoint_page": EVERYONE,
    "patrol.checkin": EVERYONE,
    "patrol.my_patrol": EVERYONE,
    "patrol.checkin_detail": EVERYONE,
    "scanner.scan": EVERYONE,
    "findings.new": EVERYONE,
    "findings.create": EVERYONE,
    "findings.index": EVERYONE,
    "findings.show": EVERYONE,
    "findings.step": EVERYONE,
    **{f"dutylog.{name}": EVERYONE for name in (
        "index", "new", "create", "show", "step", "record", "create_follow_up", "follow_ups",
        "follow_up", "change_follow_up", "keys", "lend_key", "return_key",
    )},
    "photos.photo": EVERYONE,
    "photos.thumbnail": EVERYONE,
    "sync.sync": API_AND_STATION,
    "sync.put_photo": API_AND_STATION,
    "sync.reference": API,
    "sync.openapi": PUBLIC,
    "pwa.service_worker": PUBLIC,
    "pwa.worker_module": PUBLIC,
    "pwa.manifest": PUBLIC,
    "pwa.offline": PUBLIC,
    "pwa.checkpoint_shell": EVERYONE,
    "pwa.sync_page": EVERYONE,
    "pwa.op_result": EVERYONE,  # the server's answer to one's own queued write (or a manager's)
    **{f"repetition.{name}": MANAGERS for name in ("index", "show", "update", "send", "scan")},
    **{
        f"supervisor.{name}": MANAGERS
        for name in ("acknowledge", "inbox", "badge", "day", "review")
    },
    "supervisor.report_up_finding": EVERYONE,
    "supervisor.report_up_entry": EVERYONE,
    **{f"reports.{name}": MANAGERS for name in ("targets", "targets_csv")},
    **{f"settings.{name}": MANAGERS for name in ("edit", "update")},
    "dashboard.coverage": MANAGERS,
    **{f"station.{name}": MANAGERS for name in ("stations", "enrol", "revoke")},
    **{f"station.{name}": STATION for name in (
        "home", "people", "pin", "verify", "start", "check_in", "handover", "step", "cancel",
        "done", "shell", "reference", "leave",
    )},
    **{f"handover_views.{name}": EVERYONE for name in (
        "index", "record", "post_history", "post_csv", "post_xlsx",
        "person_history", "person_csv", "person_xlsx",
    )},
    "checkpoints.index": MANAGERS,
    "checkpoints.create": MANAGERS,
    "checkpoints.row": MANAGERS,
    "checkpoints.edit": MANAGERS,
    "checkpoints.update": MANAGERS,
    "checkpoints.reissue": MANAGERS,
    "checkpoints.export_csv": MANAGERS,
    "checkpoints.import_csv": MANAGERS,
    "qr.checkpoint_qr": MANAGERS,
    "qr.labels": MANAGERS,
    **{
        f"places.{name}": MANAGERS
        for name in (
            "index", "create_area", "area_row", "edit_area", "update_area",
            "create_post", "post_row", "edit_post", "update_post",
            "create_route", "route_page", "route_row", "edit_route", "update_route",
            "add_stop", "move_stop", "remove_stop",
        )
    },
    **{
        f"admin.{name}": ADMIN
        for name in (
            "users", "create_user", "user_row", "edit_user", "update_user",
            "reset_password", "set_pin", "clear_pin",
            "sites", "create_site", "site_row", "edit_site", "update_site",
        )
    },
    **{f"holidays.{name}": MANAGERS for name in ("index", "year")},
    **{f"roster.{name}": EVERYONE for name in ("index", "month", "print_month", "mine")},
    **{f"roster.{name}": MANAGERS for name in (
        "start", "cell", "add_row", "fill", "copy_previous", "submit", "publish", "day",
    )},
    **{f"shifts.{name}": MANAGERS for name in ("index", "create", "change", "retire")},
    # R3: a director approves or returns a roster (never the person who submitted it).
    **{f"roster.{name}": {"director", "admin"} for name in ("approve", "send_back")},
    **{f"holidays.{name}": ADMIN for name in (
        "seed", "add_day", "change_day", "delete_day", "confirm",
    )},
    "calendar_feed.feed": PUBLIC,
    **{f"calendar_feed.{name}": EVERYONE for name in ("page", "create", "revoke", "month_file")},
    "comptime.index": EVERYONE,
    **{f"comptime.{name}": MANAGERS for name in ("person", "adjust")},
    # R4: anyone asks (and cancels their own); a manager decides. No route moves a shift.
    **{f"roster_requests.{name}": EVERYONE for name in ("mine", "new", "create", "cancel")},
    **{f"roster_requests.{name}": MANAGERS for name in ("inbox", "card", "approve", "reject")},
    # R7: a manager declares, extends and lifts; everyone answers the call.
    **{f"all_hands.{name}": MANAGERS for name in (
        "index", "declare", "show", "extend", "lift", "decide_leave",
    )},
    "all_hands.ack": EVERYONE,
    # d-10: anyone downloads a month they may see; a manager imports (dry run, then apply).
    "roster_excel.export": EVERYONE,
    **{f"roster_excel.{name}": MANAGERS for name in ("form", "dry_run", "apply")},
}  # fmt: skip

SITE_SCOPED_ARGS = {"site_code", "token", "checkpoint_id", "checkin_id", "area_id", "post_id",
                    "route_id", "finding_id", "photo_id", "report_id",
                    "entry_id", "follow_up_id", "key_id", "escalation_id",
                    "handover_id", "station_id", "template_id"}  # fmt: skip


@pytest.fixture
def world(make_site, make_user, make_area, make_post, make_checkpoint, make_route):
    """Two sites with one of everything; one user of each role in the first."""
    own, other = make_site(code="OWN"), make_site(code="OTHER")
    users = {role: make_user(role=role, sites=[own]) for role in ROLES}
    objects = {}
    for site in (own, other):
        area = make_area(site)
        checkpoint = make_checkpoint(site, area=area)
        route = make_route(site, [checkpoint])
        post = make_post(site)
        # Staff see their own check-ins: the own site's check-in is the matrix staff's.
        staff = users["staff"] if site is own else make_user(role="staff", sites=[site])
        checkin, _ = record_checkin(
            checkpoint, by=staff, op_id=new_op_id(), device_time=datetime.now(UTC), results=[]
        )
        finding, _ = record_finding(
            site, by=staff, op_id=new_op_id(), device_time=datetime.now(UTC),
            category="other", severity="low", description="x",
        )  # fmt: skip
        photo = Photo(id=new_op_id(), site_id=site.id, sha256="0" * 64, width=1, height=1, size=1)
        db.session.add(photo)
        entry, _ = record_entry(
            site, by=staff, op_id=new_op_id(), device_time=datetime.now(UTC), kind="repair",
            summary="x",
        )  # fmt: skip
        template = ShiftTemplate(site=site, code="D", name="白班", segments=[[480, 1200]])
        db.session.add(template)
        # A roster month waiting for approval, submitted by someone outside the matrix.
        db.session.add(RosterMonth(site=site, month="2026-03", status="submitted",
                                   submitted_by_id=staff.id))  # fmt: skip
        follow_up = FollowUp(site_id=site.id, entry=entry, type="work_order", number="WX-1",
                             title="x", created_by_id=staff.id)  # fmt: skip
        key = KeyLoan(site_id=site.id, key_name="k", taken_by="t", approved_by_id=staff.id,
                      recorded_by_id=staff.id)  # fmt: skip
        db.session.add_all([follow_up, key])
        report = RepetitionReport(
            site_id=site.id, category="other", area_id=area.id, threshold=3, window_days=30,
            title="t", body="b", findings=[finding],
        )  # fmt: skip
        db.session.add(report)
        escalation = escalate(site, level=2, reason="manual", at=datetime.now(UTC), entry=entry)
        handover, _ = arrive(post, by=staff, op_id=new_op_id(), device_time=datetime.now(UTC))
        station, station_token = enrol_station(post, by=staff, name="tablet")
        _feed, feed_token = create_feed(staff)
        db.session.commit()
        objects[site.code] = {
            "site_code": site.code,
            "token": checkpoint.token,
            "checkpoint_id": checkpoint.id,
            "checkin_id": checkin.id,
            "kind": "checkin",  # pwa.op_result: what became of a queued check-in
            "op_id": checkin.id,
            "area_id": area.id,
            "post_id": post.id,
            "route_id": route.id,
            "user_id": staff.id,
            "site_id": site.id,
            "way": "up",
            "name": "outbox",
            "finding_id": finding.id,
            "photo_id": photo.id,
            "entry_id": entry.id,
            "follow_up_id": follow_up.id,
            "key_id": key.id,
            "report_id": report.id,
            "escalation_id": escalation.id,
            "handover_id": handover.id,
            "station_id": station.id,
            "station_token": station_token,
            "template_id": template.id,
            "year": 2026,  # the holiday calendar's (not site-scoped)
            "day": "2026-10-01",
            "feed_token": feed_token,  # the calendar feed's secret (public route)
            "month": "2026-03",  # a roster month (YYYY-MM)
            "request_id": new_op_id(),  # a roster request (none: its site scopes the route)
            "all_hands_id": new_op_id(),  # an all-hands period (none: its site scopes the route)
        }
    return objects, users


def rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule, _ in rules(app)}
    assert endpoints - set(EXPECTED) == set(), "add the new routes to EXPECTED"
    assert set(EXPECTED) - endpoints == set(), "EXPECTED names routes that no longer exist"


def build(rule, values) -> str:
    missing = set(rule.arguments) - set(values)
    assert not missing, f"teach the matrix how to fill {missing} for {rule.endpoint}"
    return rule.build({name: values[name] for name in rule.arguments}, append_unknown=False)[1]


def call(client, method, url, site_code):
    if url.startswith("/api/"):
        headers = {"X-Dutypwa-Sync": "1", "X-Dutypwa-Site": site_code}
        return client.open(url, method=method, headers=headers, json={})
    return client.open(url, method=method, data={})


@pytest.mark.parametrize("role", [*ROLES, "anonymous", "station"])
def test_matrix(app, client, login, world, role):
    """ "station": a browser enrolled as the own site's station, nobody logged in."""
    objects, users = world
    if role == "station":
        client.set_cookie("dutypwa_station", objects["OWN"]["station_token"])
    elif role != "anonymous":
        login(users[role])
    failures = []
    for rule, method in rules(app):
        if rule.endpoint in ("auth.logout",):
            continue  # would end the session mid-matrix; covered in test_auth
        allowed = EXPECTED[rule.endpoint]
        if allowed is API_AND_STATION:
            allowed = STATION_API if role == "station" else API
        scoped = bool(set(rule.arguments) & SITE_SCOPED_ARGS)
        for site_code in ("OWN", "OTHER") if scoped else ("OWN",):
            url = build(rule, objects[site_code])
            response = call(client, method, url, site_code)
            status = response.status_code
            if allowed is STATION_API:
                ok = status < 500 and status != 401
            elif allowed is STATION and role != "station":
                ok = status == 403  # no station cookie: refused, logged in or not
            elif allowed is STATION and scoped and site_code == "OTHER":
                ok = status in (403, 404)
            elif allowed is STATION:
                # A step without a person's PIN is refused (403), but never for the station.
                ok = status < 500 and status != 401 and (method != "GET" or status != 403)
                ok = ok and b"not a station" not in response.data
            elif role == "station":  # for every other page the station is anonymous
                ok = status == 401 if allowed is API else (
                    status < 500 and status not in (401, 403) if allowed is PUBLIC
                    else status == 302)  # fmt: skip
            elif allowed is PUBLIC:
                ok = status < 500 and status not in (401, 403)
            elif allowed is API and role == "anonymous":
                ok = status == 401
            elif allowed is API:
                ok = status < 500 and status not in (401, 403)
                if scoped and site_code == "OTHER" and role != "admin":
                    ok = status in (403, 404)
            elif role == "anonymous":
                ok = status == 302
            elif role not in allowed:
                ok = status == 403
            elif site_code == "OTHER" and role != "admin":
                ok = status in (403, 404)
            else:
                ok = status < 500 and status not in (401, 403)
            if not ok:
                failures.append(f"{method} {url} ({rule.endpoint}) as {role}: {status}")
    assert not failures, "\n".join(failures)
