"""Printed QR label sheets: what comes out of the printer scans to a working checkpoint URL,
one for every active checkpoint and nothing else; a new label voids the printed one (410).
"""

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from dutypwa.models import CheckIn
from tests.e2e.conftest import A4_POINTS, pdf_page_images, pdf_page_sizes, pdf_text

pytestmark = pytest.mark.e2e

DPI = 150
A4_PIXELS = (round(210 / 25.4 * DPI), round(297 / 25.4 * DPI))  # 1240 × 1754
# Chromium's A4 is 595.92 × 842.88 pt (8.277 × 11.707 in) and pdfium rounds each side up:
# 1242 × 1757, a few pixels over. Letter would be 1275 × 1650.
A4_TOLERANCE = 4


def print_to_png(page, name: str, artifacts) -> list[Image.Image]:
    """Print the page to an A4 PDF as Chromium would, and rasterise it like a scanner."""
    pdf = artifacts / f"{name}.pdf"
    pdf.write_bytes(page.pdf(format="A4", print_background=True))
    for width, height in pdf_page_sizes(pdf):
        assert abs(width - A4_POINTS[0]) < 2 and abs(height - A4_POINTS[1]) < 2, (width, height)
    images = pdf_page_images(pdf, dpi=DPI)
    assert images, "the PDF has no pages"
    for number, image in enumerate(images, 1):
        image.save(artifacts / f"{name}-{number}.png")
    return images


def qr_texts(images: list[Image.Image]) -> list[str]:
    return [
        barcode.text
        for image in images
        for barcode in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    ]


def test_label_sheet_scans_to_every_active_checkpoint(
    desktop, phone, login_as, server_db, live_server, artifacts, shot
):
    supervisor = desktop()
    login_as(supervisor, "2001")
    # Take one checkpoint out of use through the UI, so "active only" is put to the test.
    retired = server_db.checkpoint("029")
    supervisor.goto("/s/CUIHU/checkpoints")
    row = supervisor.locator(f"#checkpoint-{retired.id}")
    row.locator("button[hx-get$='/edit']").click()
    row.locator("input[name=active]").uncheck()
    row.locator("button.primary").click()
    expect(supervisor.locator(f"#checkpoint-{retired.id}.inactive")).to_be_visible()

    active = server_db.active_checkpoints()
    assert retired.id not in {c.id for c in active}
    expected = {f"{live_server.url}/c/{c.token}": c for c in active}

    assert supervisor.goto("/s/CUIHU/labels").status == 200
    shot(supervisor, "labels-screen")
    sheet_text = supervisor.inner_text(".labels")
    for checkpoint in active:
        assert checkpoint.code in sheet_text
    printed_codes = supervisor.locator(".labels .label .code").all_inner_texts()
    assert sorted(printed_codes) == [c.code for c in active]

    pages = print_to_png(supervisor, "labels", artifacts)
    for image in pages:
        width, height = image.size
        assert abs(width - A4_PIXELS[0]) <= A4_TOLERANCE, image.size
        assert abs(height - A4_PIXELS[1]) <= A4_TOLERANCE, image.size
    decoded = qr_texts(pages)
    assert set(decoded) == set(expected)
    assert len(decoded) == len(expected), "a label was printed twice"
    printed_text = pdf_text(artifacts / "labels.pdf")
    for checkpoint in active:
        assert checkpoint.code in printed_text, f"code {checkpoint.code} not printed"

    staff = phone()
    login_as(staff, "1001")
    for url, checkpoint in expected.items():
        response = staff.goto(url)
        assert response.status == 200, url
        expect(staff.locator("h1")).to_have_text(checkpoint.name)
    response = staff.goto(f"{live_server.url}/c/{retired.token}")
    assert response.status == 410


def test_new_label_voids_the_printed_one(
    desktop, phone, login_as, server_db, live_server, artifacts, shot
):
    checkpoint = server_db.checkpoint("028")
    old_url = f"{live_server.url}/c/{checkpoint.token}"
    staff = phone()
    login_as(staff, "1001")
    assert staff.goto(old_url).status == 200

    supervisor = desktop()
    login_as(supervisor, "2001")
    supervisor.goto("/s/CUIHU/checkpoints")
    dialogs = []

    def accept(dialog):
        dialogs.append(dialog.type)
        dialog.accept()

    supervisor.on("dialog", accept)
    row = supervisor.locator(f"#checkpoint-{checkpoint.id}")
    row.locator("button[hx-post$='/reissue']").click()
    expect(row.locator(".alert.ok")).to_be_visible()
    assert dialogs == ["confirm"]
    shot(row, "labels-reissued-row")

    new_token = server_db.checkpoint("028").token
    assert new_token != checkpoint.token
    new_url = f"{live_server.url}/c/{new_token}"

    response = staff.goto(old_url)
    assert response.status == 410
    refusal = staff.locator('.error-page[data-status="410"]')
    expect(refusal.locator(".message")).not_to_be_empty()
    expect(staff.locator("#checkin-form")).to_have_count(0)
    shot(staff, "labels-old-label-410")
    visits_before = server_db.count_checkins(CheckIn.checkpoint_id == checkpoint.id)
    csrf = staff.locator("meta[name=csrf-token]").get_attribute("content")
    posted = staff.context.request.post(
        old_url, form={"csrf_token": csrf, "op_id": "0b6c1f3e-8d2a-4f7b-9a41-5c3e2d1f0a99"}
    )
    assert posted.status == 410
    assert server_db.count_checkins(CheckIn.checkpoint_id == checkpoint.id) == visits_before

    supervisor.goto(f"/s/CUIHU/labels?area={checkpoint.area_id}")
    decoded = qr_texts(print_to_png(supervisor, "labels-reissued", artifacts))
    assert new_url in decoded
    assert old_url not in decoded

    assert staff.goto(new_url).status == 200
    expect(staff.locator("h1")).to_have_text(checkpoint.name)
