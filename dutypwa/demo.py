"""Demo data: a Chinese residential estate with ~30 checkpoints, routes, one user of each
role and a day of check-ins, nonconformities in every state (one problem repeated enough
to draft a D8 report) and a day of the duty log, plus a second small site to show that
sites are kept apart. Everything after the places is made through the domain functions."""

import random
import uuid
from datetime import UTC, datetime, time, timedelta

import click
from flask import current_app
from sqlalchemy import select

from dutypwa import handover as handovers
from dutypwa.dutylog import record_entry
from dutypwa.dutylog.entries import record_entry_step
from dutypwa.dutylog.registers import create_follow_up
from dutypwa.dutylog.shifts import last_night, shift_window
from dutypwa.extensions import db
from dutypwa.findings import record_finding
from dutypwa.models import (
    Area,
    Checkpoint,
    Post,
    PostDuty,
    Route,
    RouteStop,
    ShiftTemplate,
    Site,
    User,
    utcnow,
)
from dutypwa.nonconformities import record_step
from dutypwa.patrol import record_checkin
from dutypwa.roster import core as roster
from dutypwa.roster.holidays import seed_years

DEMO_PASSWORD = "demo1234"
DEMO_PIN = "1234"

POWER_CHECKS = ["运行指示正常", "无异响异味", "温度正常", "门窗完好、防鼠板到位"]
PUMP_CHECKS = ["压力表读数正常", "无漏水渗水", "控制柜运行正常", "集水井水位正常"]
GARAGE_CHECKS = ["照明正常", "消防通道畅通", "排风机运行正常"]

AREAS = {
    "中心花园": [
        ("中心花园喷泉", "garden", "喷泉池、水面清洁"),
        ("中心花园儿童游乐区", "garden", "游乐设施完好、无尖锐物"),
        ("中心花园草坪", "garden", "草坪修剪、无积水"),
        ("中心花园凉亭", "garden", "座椅、照明"),
        ("中心花园东侧绿篱", "garden", "绿篱修剪、无垃圾"),
    ],
    "东区花园": [
        ("东区花园1号楼前", "garden", ""),
        ("东区花园2号楼前", "garden", ""),
        ("东区花园健身区", "garden", "健身器材完好"),
        ("东区花园垃圾分类点", "garden", "分类投放、清运及时"),
    ],
    "西区花园": [
        ("西区花园5号楼前", "garden", ""),
        ("西区花园6号楼前", "garden", ""),
        ("西区花园水景", "garden", "水质、护栏"),
        ("西区花园围墙", "garden", "围墙完好、无攀爬痕迹"),
    ],
    "配电房": [
        ("高压配电柜", "equipment", "", POWER_CHECKS),
        ("低压配电柜", "equipment", "", POWER_CHECKS),
        ("1号变压器", "equipment", "", POWER_CHECKS),
        ("直流屏", "equipment", "", POWER_CHECKS),
    ],
    "水泵房": [
        ("生活水泵", "equipment", "", PUMP_CHECKS),
        ("消防水泵", "equipment", "", PUMP_CHECKS),
        ("喷淋泵", "equipment", "", PUMP_CHECKS),
        ("集水井", "equipment", "", PUMP_CHECKS),
    ],
    "地下车库": [
        ("车库B1入口", "other", "道闸、坡道", GARAGE_CHECKS),
        ("车库B1消防门", "other", "常闭式防火门", GARAGE_CHECKS),
        ("车库B1排风机房", "equipment", "", GARAGE_CHECKS),
        ("车库B2电梯厅", "other", "", GARAGE_CHECKS),
    ],
    "正门岗": [
        ("正门岗道闸", "equipment", "", ["道闸起落正常", "对讲正常"]),
        ("正门访客登记处", "other", "访客登记本"),
    ],
    "会所": [
        ("会所大堂", "other", "卫生、照明"),
        ("会所消防通道", "other", "通道畅通、指示灯亮"),
    ],
}

POSTS = [
    (
        "客户服务中心",
        [("对讲机", 2), ("手电筒", 2), ("钥匙箱", 1), ("值班记录本", 1), ("应急钥匙", 1)],
        ["08:00", "20:00"],
    ),
    ("监控室", [("对讲机", 1), ("监控主机", 1), ("值班记录本", 1)], ["08:00", "20:00"]),
    ("正门岗", [("对讲机", 1), ("手电筒", 1), ("反光衣", 2)], ["07:00", "15:00", "23:00"]),
]

USERS = [
    ("admin", "系统管理员", "admin"),
    ("3001", "王强", "director"),
    ("2001", "李娜", "supervisor"),
    ("1001", "张伟", "staff"),
    ("1002", "刘芳", "staff"),
    ("1003", "陈杰", "staff"),
]


def load_demo(now: datetime | None = None) -> str:
    """Add the demo data (without committing); refuses when the demo site exists."""
    if db.session.scalar(select(Site).where(Site.code == "CUIHU")):
        raise click.ClickException("the demo site CUIHU exists already")
    now = now or utcnow()
    rng = random.Random(20261126)
    method = current_app.config["PASSWORD_HASH_METHOD"]

    site = Site(code="CUIHU", name="翠湖花园", timezone="Asia/Shanghai")
    other = Site(code="NANHU", name="南湖苑", timezone="Asia/Shanghai")
    db.session.add_all([site, other])

    checkpoints = []
    for position, (area_name, specs) in enumerate(AREAS.items()):
        area = Area(site=site, name=area_name, position=position)
        db.session.add(area)
        for spec in specs:
            name, kind, description = spec[:3]
            checklist = spec[3] if len(spec) > 3 else []
            checkpoints.append(
                Checkpoint(
                    site=site,
                    area=area,
                    name=name,
                    kind=kind,
                    description=description,
                    checklist=list(checklist),
                    code=f"{len(checkpoints) + 1:03d}",
                )
            )
    db.session.add_all(checkpoints)
    for name, items, changes in POSTS:
        inventory = [{"name": item, "count": count} for item, count in items]
        db.session.add(Post(site=site, name=name, inventory=inventory, shift_changes=changes))

    users = []
    for username, display_name, role in USERS:
        user = User(username=username, display_name=display_name, role=role, sites=[site])
        users.append(user)
    other_users = [
        User(username="6001", display_name="周涛", role="supervisor", sites=[other]),
        User(username="5001", display_name="赵敏", role="staff", sites=[other]),
    ]
    for user in users + other_users:
        user.set_password(DEMO_PASSWORD, method=method)
        user.set_pin(DEMO_PIN, method=method)
    db.session.add_all(users + other_users)
    other_area = Area(site=other, name="花园", position=0)
    db.session.add(other_area)
    db.session.add(
        Checkpoint(site=other, area=other_area, name="南湖苑主花园", kind="garden", code="001")
    )

    def on_route(*area_names):
        return [c for c in checkpoints if c.area.name in area_names]

    gardens = on_route("中心花园", "东区花园", "西区花园")
    routes = [
        Route(site=site, name="夜间花园巡查", window_start=time(20), window_end=time(6),
              interval_minutes=120, stops=_stops(gardens)),
        Route(site=site, name="日间花园巡查", window_start=time(8), window_end=time(20),
              interval_minutes=180, stops=_stops(gardens)),
        Route(site=site, name="设备房巡检", window_start=time(0), window_end=time(0),
              interval_minutes=240, stops=_stops(on_route("配电房", "水泵房"))),
        Route(site=site, name="车库与门岗巡查", window_start=time(0), window_end=time(0),
              interval_minutes=180, stops=_stops(on_route("地下车库", "正门岗", "会所"))),
    ]  # fmt: skip
    db.session.add_all(routes)
    db.session.flush()

    staff = [u for u in users if u.role == "staff"]
    count = 0
    for route in routes:
        for days_ago in (2, 1, 0):
            run = route.run_on((now - timedelta(days=days_ago)).astimezone(site.tz).date())
            for slot in run.slots if run else ():
                if slot.start < now - timedelta(hours=24) or slot.start > now:
                    continue
                for checkpoint in route.checkpoints:
                    if rng.random() < 0.12:
                        continue  # a missed visit, so the coverage page shows some
                    latest = min(slot.end, now)
                    span = max((latest - slot.start).total_seconds() - 60, 60)
                    when = (slot.start + timedelta(seconds=rng.uniform(0, span))).astimezone(UTC)
                    if when > now:
                        continue
                    results = [
                        {"item": item, "ok": rng.random() > 0.03, "note": ""}
                        for item in checkpoint.checklist
                    ]
                    for result in results:
                        if not result["ok"]:
                            result["note"] = "需跟进处理"
                    record_checkin(
                        checkpoint,
                        by=rng.choice(staff),
                        op_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        device_time=when,
                        results=results,
                        received_at=when + timedelta(seconds=rng.uniform(0.2, 3)),
                        clock_offset_s=0.0,
                    )
                    count += 1
    people = {user.username: user for user in users}
    findings = _nonconformities(site, people, checkpoints, now, rng)
    evening = _handover(site, people, now, rng)
    entries = _duty_log(site, people, now, rng, evening)
    _night_handover(site, people, evening, rng)
    # The roster's 法 / 休 / 班 badges: this year's and next year's holiday calendar.
    seed_years(range(site.local(now).year, site.local(now).year + 2))
    _roster(site, people, now, site.local(evening).date())
    return (
        f"demo loaded: site CUIHU with {len(checkpoints)} checkpoints, {len(routes)} routes, "
        f"{count} check-ins, {findings} nonconformities, {entries} duty-log entries; "
        "site NANHU; users "
        + ", ".join(u.username for u in users + other_users)
        + f" (password {DEMO_PASSWORD})"
    )


# The site's shifts (R2): 12-hour day and night at the service centre, the gate's
# three eights, a split shift; minutes from the duty date's midnight.
SHIFTS = [
    ("D", "白班", "#fde68a", [[480, 1200]]),
    ("N", "夜班", "#c7d2fe", [[1200, 1920]]),
    ("早", "早班", "#bbf7d0", [[420, 900]]),
    ("中", "中班", "#fed7aa", [[900, 1380]]),
    ("夜", "大夜班", "#ddd6fe", [[1380, 1860]]),
    ("值", "值班经理", "#fecaca", [[510, 720], [1020, 1290]]),
]


def _roster(site, people, now, evening_date) -> None:
    """This month's roster, published: the three duty staff rotate day, night, rest at the
    service centre, which is never unstaffed (R5), in step with the handovers (_handover):
    陈杰 the night before `evening_date`, 张伟 its day, 刘芳 its night. Next month is left for
    the supervisor (copy this one by weekday, then close the gaps at its end)."""
    centre = next(post for post in site.posts if post.name == "客户服务中心")
    centre.never_unstaffed = True
    for code, name, colour, segments in SHIFTS:
        db.session.add(ShiftTemplate(site=site, code=code, name=name, colour=colour,
                                     segments=segments))  # fmt: skip
    db.session.flush()
    staff = [people["1001"], people["1002"], people["1003"]]
    # Last month's too when the handovers' shifts were in it (the demo loaded on the 1st:
    # the night before the morning handover, or both handovers, fell in last month), so
    # that every shift a demo handover took over is on a published roster.
    night_before = evening_date - timedelta(days=1)
    firsts = sorted({night_before.replace(day=1), site.local(now).date().replace(day=1)})
    for first in firsts:
        _roster_month(site, first, centre, staff, people, now, evening_date,
                      night_before=first == firsts[0])  # fmt: skip


def _roster_month(site, first, centre, staff, people, now, evening_date, night_before) -> None:
    """One month of the rotation, published; with `night_before`, also the night of the
    last day of the month before, which reaches into this one."""
    supervisor, director = people["2001"], people["3001"]
    month = roster.month_of(site, first, create=True)
    for person in staff:
        roster.add_row(month, post=centre, person=person, by=supervisor)
    previous = roster.month_of(site, (first - timedelta(days=1)).replace(day=1), create=True)
    cycle = ("D", "N", "-")
    context = roster.context_of(site, first)
    days = [first - timedelta(days=1)] if night_before else []
    for day in [*days, *roster.month_days(first)]:
        for index, person in enumerate(staff):
            code = cycle[((day - evening_date).days + index) % 3]
            target = previous if day < first else month
            if code != "-" and (day >= first or code == "N"):
                roster.set_cell(target, by=supervisor, post=centre, person=person, day=day,
                                code=code, version=target.version, source="pattern",
                                now=now - timedelta(days=40), context=context)  # fmt: skip
    moment = now - timedelta(days=40)
    if roster.holidays_known(first.year):
        roster.submit(month, by=supervisor, now=moment)
    else:  # a year without a known calendar: straight through
        month.status, month.submitted_by_id, month.submitted_at = "submitted", supervisor.id, moment
    roster.approve(month, by=director, now=moment)
    roster.publish(month, by=supervisor, now=moment)


def _stops(checkpoints: list[Checkpoint]) -> list[RouteStop]:
    return [RouteStop(checkpoint=c, position=i) for i, c in enumerate(checkpoints)]


# Nonconformities in each state: (checkpoint code or area name, category, severity, what,
# raised how long ago, raised by, the steps after it: (action, by, hours later, fields)).
NONCONFORMITIES = [
    ("会所", "hygiene", "normal", "会所二楼走廊地面有积水，易滑倒", timedelta(hours=2), "1002", []),
    ("009", "hygiene", "normal", "垃圾桶满溢，未按时清运", timedelta(hours=20), "1003",
     [("assign", "2001", 1, {"assignee": "1001", "note": "请今天上午清运"})]),
    ("023", "safety", "urgent", "防火门闭门器损坏，门不能自动关闭", timedelta(hours=26), "1001",
     [("assign", "2001", 0.5, {"team": "maintenance", "note": "更换闭门器"})]),
    ("012", "garden", "normal", "水景池漂浮落叶，水面浑浊", timedelta(days=2), "1001",
     [("assign", "2001", 1, {"assignee": "1002"}),
      ("correct", "1002", 5, {"note": "已打捞落叶，清洗过滤网"})]),
    ("013", "facilities", "low", "围墙铁艺栏杆一处松动", timedelta(days=4), "1001",
     [("correct", "1001", 3, {"note": "已紧固螺栓"}),
      ("verify_pass", "2001", 20, {"note": "复查合格"})]),
    ("022", "facilities", "normal", "道闸地感失灵，车辆需人工抬杆", timedelta(days=3), "1003",
     [("assign", "2001", 1, {"team": "maintenance"}),
      ("correct", "1003", 6, {"note": "已重启道闸控制器"}),
      ("verify_fail", "2001", 22, {"note": "复查仍时好时坏，需更换地感线圈"})]),
    # The same kind of problem at the same garden checkpoint three times in 30 days (D8).
    ("011", "lighting", "normal", "6号楼前庭院灯不亮", timedelta(days=25), "1002",
     [("correct", "1003", 20, {"note": "更换灯泡"}), ("verify_pass", "2001", 30, {})]),
    ("011", "lighting", "normal", "6号楼前庭院灯灯罩破损，灯不亮", timedelta(days=12), "1001",
     [("correct", "1002", 8, {"note": "更换灯罩和灯泡"}), ("verify_pass", "2001", 24, {})]),
    ("011", "lighting", "normal", "6号楼前庭院灯又不亮了，疑似线路问题", timedelta(hours=3),
     "1003", []),
]  # fmt: skip


def _op_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _nonconformities(site, people, checkpoints, now, rng) -> int:
    by_code = {checkpoint.code: checkpoint for checkpoint in checkpoints}
    areas = {area.name: area for area in site.areas}
    for place, category, severity, what, ago, by, steps in NONCONFORMITIES:
        when = now - ago
        finding, _created = record_finding(
            site,
            by=people[by],
            op_id=_op_id(rng),
            device_time=when,
            received_at=when + timedelta(seconds=2),
            clock_offset_s=0.0,
            category=category,
            severity=severity,
            description=what,
            checkpoint=by_code.get(place),
            area=areas.get(place),
        )
        for action, actor, hours, fields in steps:
            at = when + timedelta(hours=hours)
            assignee = fields.get("assignee")
            record_step(
                finding,
                by=people[actor],
                op_id=_op_id(rng),
                device_time=at,
                received_at=at + timedelta(seconds=2),
                clock_offset_s=0.0,
                action=action,
                note=fields.get("note", ""),
                assignee_id=people[assignee].id if assignee else None,
                assignee_team=fields.get("team", ""),
            )
    return len(NONCONFORMITIES)


def _duty_log(site, people, now, rng, evening) -> int:
    """A day of the duty log: an answered inquiry, a repair and a complaint that became a
    work order and a complaint record (in the day shift before `evening`, so that the
    night's handover reviews them), and a repair left open by last night's shift (D7)."""
    posts = {post.name: post for post in site.posts}
    night = last_night(site, now)
    day = shift_window(site, site.local(evening).date(), "day")
    morning = day.start + timedelta(hours=1, minutes=20)
    entries = [
        {
            "kind": "inquiry",
            "at": morning,
            "by": "1001",
            "post": "客户服务中心",
            "reporter_name": "王女士",
            "reporter_unit": "3-2-701",
            "reporter_phone": "138****6621",
            "summary": "咨询物业费缴纳方式",
            "handling": "告知可在客服中心或微信公众号缴纳",
            "result": "业主表示清楚",
            "status": "closed",
        },
        {
            "kind": "repair",
            "at": morning + timedelta(minutes=25),
            "by": "1001",
            "post": "客户服务中心",
            "reporter_name": "陈先生",
            "reporter_unit": "5-1-302",
            "reporter_phone": "139****0817",
            "summary": "卫生间天花板渗水",
            "handling": "已通知维修工上门查看",
            "follow": True,
        },
        {
            "kind": "complaint",
            "at": morning + timedelta(minutes=35),
            "by": "1002",
            "post": "客户服务中心",
            "reporter_name": "刘先生",
            "reporter_unit": "1-3-1201",
            "summary": "楼上住户夜间装修噪音",
            "handling": "已电话联系楼上住户，要求停止夜间施工",
            "follow": True,
        },
        {
            "kind": "repair",
            "at": night.start + timedelta(hours=3, minutes=10),
            "by": "1003",
            "post": "正门岗",
            "location": "车库B1入口",
            "summary": "道闸无法自动抬杆，已改为人工放行",
            "handling": "已切换人工放行，待白班报修",
        },
    ]
    for fields in entries:
        at, by, follow = fields.pop("at"), people[fields.pop("by")], fields.pop("follow", False)
        entry, _created = record_entry(
            site,
            by=by,
            op_id=_op_id(rng),
            device_time=at,
            received_at=at + timedelta(seconds=3),
            clock_offset_s=0.0,
            post=posts.get(fields.pop("post")),
            **fields,
        )
        if follow:
            create_follow_up(site, entry, by=by, at=at + timedelta(minutes=5))
    return len(entries)


# Signatures as the tablet draws them: SVG paths of moves and lines.
SIGNATURES = {
    "1001": "M 20 70 L 34 38 L 46 74 L 58 40 L 70 72 M 86 44 L 118 44 M 102 44 L 100 76 "
    "L 124 70 M 140 40 L 136 78 L 164 74",
    "1002": "M 24 40 L 22 78 L 48 76 M 64 42 L 92 40 M 66 42 L 64 78 M 64 60 L 88 58 "
    "M 108 40 L 104 78 M 120 44 L 150 42 L 124 76 L 154 74",
    "1003": "M 18 44 L 46 40 M 32 40 L 30 78 M 60 52 L 88 48 L 62 76 L 92 72 M 110 40 "
    "L 106 76 M 106 58 L 132 56 L 134 40 L 132 78",
}


def _handover(site, people, now, rng) -> datetime:
    """The customer-service centre's paper trail: the morning before the current night,
    陈杰 handed over to 张伟 (two minutes late, one repair carried over by name, closed
    later that day). Returns the evening (UTC) at which 刘芳 takes over for the night
    (_night_handover)."""
    post = next(post for post in site.posts if post.name == "客户服务中心")
    local = now.astimezone(site.tz)
    evening = datetime.combine(local.date(), time(20), tzinfo=site.tz)
    if evening > local:
        evening -= timedelta(days=1)
    evening = evening.astimezone(UTC)
    morning = evening - timedelta(hours=12)
    night, day = people["1003"], people["1001"]
    db.session.add(
        PostDuty(post_id=post.id, site_id=site.id, person_id=night.id,
                 since=morning - timedelta(hours=12), due_until=morning)
    )  # fmt: skip
    door, _created = record_entry(
        site,
        by=night,
        op_id=_op_id(rng),
        device_time=morning - timedelta(hours=3, minutes=50),
        received_at=morning - timedelta(hours=3, minutes=50) + timedelta(seconds=2),
        clock_offset_s=0.0,
        kind="repair",
        post=post,
        location="客户服务中心大堂",
        summary="大堂感应门关闭缓慢，夜间无法自动关严",
        handling="已改为手动开关并张贴提示，待白班报修",
    )
    db.session.flush()
    arrived = morning - timedelta(minutes=3)  # H1: due at 07:55; 2 minutes late (H11)
    handover, _created = handovers.arrive(
        post, by=day, op_id=_op_id(rng), device_time=arrived,
        received_at=arrived + timedelta(seconds=1), clock_offset_s=0.0,
    )  # fmt: skip
    counts = {f"count-{i}": str(item["count"]) for i, item in enumerate(post.inventory)}
    steps = [
        (day, "inventory", 2, {**counts, **{f"condition-{i}": "ok" for i in range(len(counts))}}),
        (day, "log_review", 4, {f"entry-{door.id}": "carried"}),
        (day, "area_check", 6, {"anomaly-0": "会所门口台阶有积水",
                                "anomaly-explanation-0": "夜间下雨，已放置防滑警示牌"}),
        (night, "summary", 8, {"summary": "夜班巡查正常，无访客滞留。大堂感应门关闭缓慢，"
                                          "已改手动，移交白班报修。钥匙、对讲机、手电筒齐全。"}),
        (day, "sign_incoming", 9, {"signature": SIGNATURES["1001"]}),
        (night, "sign_outgoing", 10, {"signature": SIGNATURES["1003"]}),
    ]  # fmt: skip
    _record_steps(handover, arrived, steps, rng)
    fixed = morning + timedelta(hours=3)
    record_entry_step(
        door, by=day, op_id=_op_id(rng), device_time=fixed,
        received_at=fixed + timedelta(seconds=2), clock_offset_s=0.0, action="close",
        result="维修工已调整闭门器，感应门恢复自动关闭",
    )  # fmt: skip
    db.session.flush()
    return evening


def _record_steps(handover, arrived, steps, rng) -> None:
    """Each (person, action, minutes after arrival, fields) step, recorded when it happened."""
    for person, action, minutes, fields in steps:
        at = arrived + timedelta(minutes=minutes)
        handovers.record_step(
            handover, by=person, op_id=_op_id(rng), action=action, fields=fields,
            device_time=at, received_at=at + timedelta(seconds=1), clock_offset_s=0.0,
        )  # fmt: skip


def _night_handover(site, people, evening, rng) -> None:
    """张伟 hands over to 刘芳 for the night: she checks in at 19:52 (on time, H1), every
    step is recorded when it happened, the day's open items are carried over by name, and
    the post is hers from her signature at about 20:02 until 08:00 (H10 shows her as still
    on duty if nobody relieves her)."""
    post = next(post for post in site.posts if post.name == "客户服务中心")
    day, night = people["1001"], people["1002"]
    arrived = evening - timedelta(minutes=8)
    handover, _created = handovers.arrive(
        post, by=night, op_id=_op_id(rng), device_time=arrived,
        received_at=arrived + timedelta(seconds=1), clock_offset_s=0.0,
    )  # fmt: skip
    counts = {f"count-{i}": str(item["count"]) for i, item in enumerate(post.inventory)}
    open_items = [entry for entry in handovers.open_entries(post) if entry.when < arrived]
    review = {f"entry-{entry.id}": "carried" for entry in open_items}
    steps = [
        (night, "inventory", 2, {**counts, **{f"condition-{i}": "ok" for i in range(len(counts))}}),
        (night, "log_review", 4, {"shown": ",".join(e.id for e in open_items), **review}),
        (night, "area_check", 6, {}),
        (day, "summary", 8, {"summary": "白班正常。卫生间天花板渗水已报修，楼上装修噪音投诉"
                                        "待回访，均移交夜班跟进。物品齐全。"}),
        (night, "sign_incoming", 9, {"signature": SIGNATURES["1002"]}),
        (day, "sign_outgoing", 10, {"signature": SIGNATURES["1001"]}),
    ]  # fmt: skip
    _record_steps(handover, arrived, steps, rng)
    db.session.flush()
