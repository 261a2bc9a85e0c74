"""Repeated problems (D8): the detector, the drafted report and its pages."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from dutypwa.extensions import db
from dutypwa.findings import record_finding
from dutypwa.models import Finding, RepetitionReport, utcnow
from dutypwa.patrol import record_checkin
from dutypwa.repetition import detect_all, mark_sent
from tests.conftest import new_op_id

HX = {"HX-Request": "true"}
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


@pytest.fixture
def english(app):
    """The drafting follows the request's language: these tests read the English msgids."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def site(make_site):
    return make_site(code="CUIHU", name="翠湖花园")


@pytest.fixture
def staff(make_user, site):
    return make_user(sites=[site], name="张伟")


@pytest.fixture
def supervisor(make_user, site):
    return make_user(role="supervisor", sites=[site], name="李娜")


@pytest.fixture
def garden(make_area, site):
    return make_area(site, name="中心花园")


@pytest.fixture
def pavilion(make_checkpoint, site, garden):
    return make_checkpoint(site, area=garden, name="中心花园凉亭")


@pytest.fixture
def raise_finding(site, staff, english):
    """A nonconformity recorded through the domain function, `ago` before NOW."""

    def raise_(ago=timedelta(0), category="lighting", checkpoint=None, area=None, on=None, **kw):
        when = NOW - ago
        finding, created = record_finding(
            on or site,
            by=kw.pop("by", staff),
            op_id=new_op_id(),
            device_time=when,
            category=category,
            severity="normal",
            description=kw.pop("description", "凉亭灯不亮"),
            checkpoint=checkpoint,
            area=area,
            received_at=when,
            clock_offset_s=0.0,
        )
        assert created
        db.session.commit()
        return finding

    return raise_


def reports(**where) -> list[RepetitionReport]:
    query = select(RepetitionReport).filter_by(**where).order_by(RepetitionReport.id)
    return db.session.scalars(query).all()


def days(n: float) -> timedelta:
    return timedelta(days=n)


def test_d8_three_in_thirty_days_drafts_a_report(raise_finding, pavilion, supervisor):
    first = raise_finding(days(20), checkpoint=pavilion, description="凉亭灯不亮")
    raise_finding(days(9), checkpoint=pavilion, description="凉亭灯闪烁")
    assert reports() == []
    third = raise_finding(checkpoint=pavilion, description="凉亭灯又不亮了")
    (report,) = reports()
    assert (report.category, report.checkpoint_id, report.area_id) == (
        "lighting",
        pavilion.id,
        pavilion.area_id,
    )
    assert report.status == "draft" and not report.edited
    assert (report.threshold, report.window_days) == (3, 30)
    assert report.findings[0].id == first.id and report.findings[-1].id == third.id
    assert len(report.findings) == 3
    # The draft: to the supervisor, what, where, how often, between which dates, the items.
    assert "Lighting" in report.title and "中心花园凉亭" in report.title and "3" in report.title
    assert "李娜" in report.body.splitlines()[0]
    assert "2026-10-31" in report.body and "2026-11-20" in report.body
    for text in ("凉亭灯不亮", "凉亭灯闪烁", "凉亭灯又不亮了", "Open", "Likely cause"):
        assert text in report.body


def test_d8_drafted_in_the_default_language_outside_a_request(site, staff, pavilion):
    """The CLI and the demo have no request: the app's default language (Chinese)."""
    for ago in (days(2), days(1), days(0)):
        record_finding(
            site, by=staff, op_id=new_op_id(), device_time=NOW - ago, received_at=NOW - ago,
            category="lighting", severity="low", description="灯不亮", checkpoint=pavilion,
        )  # fmt: skip
    (report,) = reports()
    assert "照明" in report.title  # the category's label, translated already


def test_d8_below_threshold_no_report(raise_finding, pavilion):
    raise_finding(days(3), checkpoint=pavilion)
    raise_finding(checkpoint=pavilion)
    assert reports() == []
    assert detect_all(pavilion.site, NOW) == [] and reports() == []


@pytest.mark.parametrize(
    ("oldest", "drafted"),
    [(days(30), True), (days(30) + timedelta(seconds=1), False), (days(31), False)],
)
def test_d8_window_boundaries(raise_finding, pavilion, oldest, drafted):
    """The window is the last `repetition_days` days, both ends included."""
    raise_finding(oldest, checkpoint=pavilion)
    raise_finding(days(1), checkpoint=pavilion)
    raise_finding(checkpoint=pavilion)
    assert bool(reports()) is drafted


def test_d8_other_category_or_place_not_counted(
    raise_finding, pavilion, garden, site, make_checkpoint, make_site, make_area, staff
):
    fountain = make_checkpoint(site, area=garden, name="中心花园喷泉")
    raise_finding(days(2), checkpoint=pavilion)
    raise_finding(days(1), checkpoint=pavilion, category="hygiene")  # another category
    raise_finding(days(1), checkpoint=fountain)  # another checkpoint, same area
    raise_finding(days(1), area=garden)  # the area, without a checkpoint
    other = make_site(code="NANHU")
    staff.sites.append(other)
    db.session.commit()
    elsewhere = make_checkpoint(other, area=make_area(other))
    raise_finding(days(1), checkpoint=elsewhere, on=other)
    raise_finding(days(1))  # no checkpoint, no area: never compared
    raise_finding(checkpoint=pavilion)
    assert reports() == []
    assert detect_all(site, NOW) == []


def test_d8_area_without_checkpoint(raise_finding, garden, pavilion):
    """Without a checkpoint the area is the place; a checkpoint's findings do not count."""
    raise_finding(days(5), area=garden)
    raise_finding(days(4), checkpoint=pavilion)
    raise_finding(days(3), area=garden)
    assert reports() == []
    raise_finding(area=garden)
    (report,) = reports()
    assert (report.checkpoint_id, report.area_id) == (None, garden.id)
    assert "中心花园" in report.title and len(report.findings) == 3


def test_d8_fourth_links_to_the_same_draft(raise_finding, pavilion):
    for ago in (days(10), days(5), days(2)):
        raise_finding(ago, checkpoint=pavilion)
    (report,) = reports()
    fourth = raise_finding(checkpoint=pavilion, description="第四次")
    (same,) = reports()
    assert same.id == report.id
    assert len(same.findings) == 4 and same.findings[-1].id == fourth.id
    assert "4" in same.title and "第四次" in same.body


def test_d8_edited_draft_is_not_overwritten(raise_finding, pavilion, supervisor):
    for ago in (days(10), days(5), days(2)):
        raise_finding(ago, checkpoint=pavilion)
    (report,) = reports()
    from dutypwa.repetition import edit_report

    edit_report(report, by=supervisor, title="凉亭照明反复故障", body="我写的报告", now=NOW)
    db.session.commit()
    raise_finding(timedelta(minutes=-5), checkpoint=pavilion, description="第四次")
    (same,) = reports()
    assert (same.title, same.body, same.edited) == ("凉亭照明反复故障", "我写的报告", True)
    assert len(same.findings) == 4  # linked all the same


def test_d8_settings_change_respected(raise_finding, pavilion, site):
    site.settings = {"repetition_count": 2, "repetition_days": 7}
    db.session.commit()
    raise_finding(days(11), checkpoint=pavilion)  # more than 7 days before the next
    raise_finding(days(3), checkpoint=pavilion)
    assert reports() == []
    raise_finding(checkpoint=pavilion)
    (report,) = reports()
    assert (report.threshold, report.window_days, len(report.findings)) == (2, 7, 2)
    assert "7 days" in report.body


def test_d8_sent_report_items_are_not_counted_again(raise_finding, pavilion, supervisor):
    for ago in (days(10), days(5), days(2)):
        raise_finding(ago, checkpoint=pavilion)
    (report,) = reports()
    mark_sent(report, by=supervisor, now=NOW)
    db.session.commit()
    raise_finding(timedelta(minutes=-1), checkpoint=pavilion)
    assert len(reports()) == 1  # one new occurrence is not yet a repetition
    raise_finding(timedelta(minutes=-2), checkpoint=pavilion)
    raise_finding(timedelta(minutes=-3), checkpoint=pavilion)
    sent, draft = reports()
    assert (sent.status, len(sent.findings)) == ("sent", 3)
    assert (draft.status, len(draft.findings)) == ("draft", 3)


def test_d8_detect_all_finds_older_records(raise_finding, pavilion, site):
    """Records from before the detector (or a lowered threshold) are found by a scan."""
    site.settings = {"repetition_count": 5}
    db.session.commit()
    for ago in (days(10), days(5), days(2)):
        raise_finding(ago, checkpoint=pavilion)
    assert reports() == []
    site.settings = {"repetition_count": 3}
    db.session.commit()
    (report,) = detect_all(site, NOW)
    db.session.commit()
    assert len(report.findings) == 3 and reports() == [report]
    assert detect_all(site, NOW) == [report]  # idempotent: the same draft
    assert len(reports()[0].findings) == 3


def test_d8_checklist_findings_of_a_patrol_are_detected(
    site, staff, make_checkpoint, garden, english
):
    pump = make_checkpoint(site, area=garden, kind="equipment", checklist=["无漏水"])
    for ago in (days(3), days(2), days(1)):
        record_checkin(
            pump,
            by=staff,
            op_id=new_op_id(),
            device_time=NOW - ago,
            received_at=NOW - ago,
            clock_offset_s=0.0,
            results=[{"item": "无漏水", "ok": False, "note": "漏水"}],
        )
        db.session.commit()
    (report,) = reports()
    assert report.category == "equipment" and len(report.findings) == 3
    assert "无漏水" in report.body


def test_d8_finding_form_drafts_the_report(client, login, site, staff, pavilion, raise_finding):
    raise_finding(days(2), checkpoint=pavilion)
    raise_finding(days(1), checkpoint=pavilion)
    login(staff)
    response = client.post(
        f"/s/{site.code}/findings",
        data={
            "op_id": new_op_id(),
            "category": "lighting",
            "severity": "normal",
            "description": "灯不亮",
            "checkpoint_token": pavilion.token,
            "device_time": utcnow().isoformat(),
        },
        headers=HX,
    )
    assert response.status_code == 201
    (report,) = reports()
    assert len(report.findings) == 3


# Pages


@pytest.fixture
def report(raise_finding, pavilion):
    for ago in (days(10), days(5), days(2)):
        raise_finding(ago, checkpoint=pavilion)
    (report,) = reports()
    return report


def test_list_shows_drafts_first(client, login, supervisor, site, report, raise_finding, garden):
    mark_sent(report, by=supervisor, now=NOW)
    for ago in (days(3), days(2), days(1)):
        raise_finding(ago, area=garden, category="hygiene")
    login(supervisor)
    body = client.get(f"/s/{site.code}/reports/repetitions").get_data(as_text=True)
    draft, sent = reports(status="draft")[0], reports(status="sent")[0]
    assert body.index(f'id="report-{draft.id}"') < body.index(f'id="report-{sent.id}"')
    assert "3 times" in body and "中心花园凉亭" in body and "Hygiene" in body
    assert "Repeated problems" in body  # the nav link


def test_page_links_the_items_and_prints(client, login, supervisor, site, report):
    login(supervisor)
    page = client.get(f"/s/{site.code}/reports/repetitions/{report.id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    for finding in report.findings:
        assert f"/s/{site.code}/findings/{finding.id}" in body
    assert 'name="body"' in body and "data-print" in body and "report-print" in body
    assert "Mark as sent to the supervisor" in body


def test_edit_saves_and_marks_edited(client, login, supervisor, site, report):
    login(supervisor)
    url = f"/s/{site.code}/reports/repetitions/{report.id}"
    response = client.post(url, data={"title": "凉亭照明", "body": "报告正文"}, headers=HX)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="report-text"') and "Saved" in body
    db.session.refresh(report)
    assert (report.title, report.body, report.edited) == ("凉亭照明", "报告正文", True)
    assert report.updated_by_id == supervisor.id
    # Without htmx: back to the page.
    plain = client.post(url, data={"title": "标题", "body": "正文"})
    assert plain.status_code == 303 and plain.headers["Location"].endswith(url)


@pytest.mark.parametrize(
    ("title", "body", "message"),
    [
        ("", "正文", "title and a text"),
        ("标题", "   ", "title and a text"),
        ("长" * 201, "正文", "title is too long"),
        ("标题", "长" * 8001, "text is too long"),
    ],
)
def test_edit_refuses_empty_or_too_long(client, login, supervisor, site, report, title, body,
                                        message):  # fmt: skip
    login(supervisor)
    before = (report.title, report.body)
    url = f"/s/{site.code}/reports/repetitions/{report.id}"
    response = client.post(url, data={"title": title, "body": body}, headers=HX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'id="report-text"' in html
    db.session.refresh(report)
    assert (report.title, report.body, report.edited) == (*before, False)


def test_mark_sent_once(client, login, supervisor, site, report):
    login(supervisor)
    url = f"/s/{site.code}/reports/repetitions/{report.id}"
    response = client.post(f"{url}/send")
    assert response.status_code == 303
    db.session.refresh(report)
    assert report.status == "sent" and report.sent_at is not None
    page = client.get(url).get_data(as_text=True)
    assert 'name="body"' not in page and "Mark as sent" not in page and report.body[:10] in page
    assert client.post(f"{url}/send").status_code == 409
    edit = client.post(url, data={"title": "x", "body": "y"}, headers=HX)
    assert edit.status_code == 409 and "no longer be changed" in edit.get_data(as_text=True)


def test_scan_drafts_from_older_records(client, login, supervisor, site, raise_finding, pavilion):
    site.settings = {"repetition_count": 9}
    db.session.commit()
    for ago in (days(3), days(2), days(1)):
        raise_finding(ago, checkpoint=pavilion)
    site.settings = {}
    db.session.commit()
    login(supervisor)
    response = client.post(f"/s/{site.code}/reports/repetitions/scan")
    assert response.status_code == 303
    assert len(reports()) == 1


def test_pages_refuse_staff_and_other_sites(
    client, login, staff, site, report, make_site, make_user
):
    login(staff)
    url = f"/s/{site.code}/reports/repetitions/{report.id}"
    assert client.get(url).status_code == 403
    assert client.post(f"{url}/send").status_code == 403
    other = make_site(code="NANHU")
    client.post("/logout")
    login(make_user(role="supervisor", sites=[other]))
    assert client.get(url).status_code == 403
    assert client.get(f"/s/NANHU/reports/repetitions/{report.id}").status_code == 404
    assert client.get(f"/s/NANHU/reports/repetitions/{report.id + 999}").status_code == 404
    db.session.refresh(report)
    assert report.status == "draft"
    assert db.session.scalar(select(func.count()).select_from(Finding)) == 3
