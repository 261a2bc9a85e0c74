"""End-to-end fixtures: a live dutypwa server in its own process on a database prepared by
the real `db upgrade` and `seed-demo` commands, Debian's Chromium driven by Playwright, phone
and desktop contexts, a login helper and read access to the server's database.

Without Chromium the browser tests are skipped with a loud reason; CI sets
DUTYPWA_REQUIRE_BROWSER=1, which turns that skip into a failure.
"""

import contextlib
import io
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pypdfium2
import pytest
import qrcode
import time_machine
from PIL import Image
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect, sync_playwright
from pypdf import PdfReader
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from dutypwa.models import CheckIn, Checkpoint, Site, User
from tests import clock

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium")
# Keep Chromium quiet on a closed network (see /work/shared/TESTING.md).
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_PASSWORD = "demo1234"
PHONE = {"width": 360, "height": 640}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="session", autouse=True)
def _browser_available():
    """Fail or skip, loudly, before a server is started for nothing."""
    if CHROMIUM is not None:
        return
    message = "E2E BROWSER TESTS NOT RUN: no `chromium` on PATH (apt-get install -y chromium)"
    if os.environ.get("DUTYPWA_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{message}; DUTYPWA_REQUIRE_BROWSER=1 requires them", pytrace=False)
    pytest.skip(f"{message}. Set DUTYPWA_REQUIRE_BROWSER=1 to make this an error.")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def shot(artifacts):
    """Save test-artifacts/<name>.png for a human to look at: a whole page or one element."""

    def take(target: Page | Locator, name: str) -> Path:
        path = artifacts / f"{name}.png"
        if isinstance(target, Page):
            target.screenshot(path=path, full_page=True)
        else:
            target.screenshot(path=path)
        return path

    return take


# Printed pages, read with pip packages: a fresh machine has no poppler tools.

A4_POINTS = (595.28, 841.89)  # 210 × 297 mm in PDF points (1/72 in)


def pdf_page_count(pdf: Path) -> int:
    return len(PdfReader(pdf).pages)


def pdf_page_sizes(pdf: Path) -> list[tuple[float, float]]:
    """Each page's width and height in points (its media box)."""
    return [
        (float(page.mediabox.width), float(page.mediabox.height)) for page in PdfReader(pdf).pages
    ]


def pdf_text(pdf: Path, *, squeeze: bool = False) -> str:
    """The text of every page (Chinese included), one page after another. pypdf puts a
    space where Chromium switched fonts (值班员 01 for 值班员01): `squeeze` drops every
    space and line break, to look for words that mix Chinese and digits."""
    text = "\n".join(page.extract_text() or "" for page in PdfReader(pdf).pages)
    return "".join(text.split()) if squeeze else text


def pdf_page_images(pdf: Path, dpi: float = 150, pages: int | None = None) -> list[Image.Image]:
    """The first `pages` pages (all by default) rendered at `dpi`, as a scanner would see
    them; pdfium rounds each side up to a whole pixel."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        count = len(document) if pages is None else min(pages, len(document))
        # Copied: the bitmaps' memory belongs to the document, closed below.
        return [document[i].render(scale=dpi / 72).to_pil().copy() for i in range(count)]
    finally:
        document.close()


# The server and its database


def _e2e_database_url(tmp_path_factory, name: str = "e2e") -> str:
    """SQLite in a temporary directory, or `<DUTYPWA_TEST_DATABASE_URL>_<name>` on PostgreSQL,
    so that the unit tests (which truncate their tables) and the e2e server never meet."""
    given = os.environ.get("DUTYPWA_TEST_DATABASE_URL")
    if not given:
        return f"sqlite:///{tmp_path_factory.mktemp(f'{name}-db') / 'dutypwa.sqlite3'}"
    url = make_url(given)
    if url.get_backend_name() != "postgresql":
        pytest.fail(f"DUTYPWA_TEST_DATABASE_URL must be PostgreSQL, not {url.get_backend_name()}")
    e2e_url = url.set(database=f"{url.database}_{name}")
    _reset_postgres(url, e2e_url)
    return e2e_url.render_as_string(hide_password=False)


def _reset_postgres(admin_url: URL, e2e_url: URL) -> None:
    """Create the e2e database if needed and give it an empty public schema."""
    import psycopg
    from psycopg import errors, sql

    def conninfo(url: URL) -> str:
        return url.set(drivername="postgresql").render_as_string(hide_password=False)

    with psycopg.connect(conninfo(admin_url), autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (e2e_url.database,)
        ).fetchone()
        if not exists:
            # Another run may create it at the same moment.
            with contextlib.suppress(errors.DuplicateDatabase):
                connection.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(e2e_url.database))
                )
    with psycopg.connect(conninfo(e2e_url), autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# `flask --app dutypwa …` on the tests' clock (tests/e2e/serve.py): the demo it seeds and
# the server it runs follow DUTYPWA_TEST_TODAY, ticking, as the tests here do. Set here,
# not in a fixture: the session's servers start before any package-scoped fixture, and
# every server command inherits this process's environment.
FLASK = [sys.executable, "-m", "tests.e2e.serve"]
os.environ.update(clock.process_env())


@pytest.fixture(scope="package", autouse=True)
def _ticking_clock():
    """The browser tests' own clock: the run's base moment (tests/clock.py), ticking from
    the real moment it was taken, as their servers' clocks do (E2E_TEST_CLOCK)."""
    with time_machine.travel(clock.ticking_now(), tick=True):
        yield


def _flask(env: dict, *args: str) -> None:
    """Run a real `flask --app dutypwa …` command against the e2e database."""
    command = [*FLASK, *args]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"`flask {' '.join(args)}` failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}",
            pytrace=False,
        )


class LiveServer:
    def __init__(
        self,
        url: str,
        database_url: str,
        process: subprocess.Popen,
        log: Path,
        photo_dir: Path | None = None,
    ):
        self.url = url
        self.port = urlsplit(url).port
        self.database_url = database_url
        self.process = process
        self.log = log
        # Where the server stores uploaded photos (DUTYPWA_PHOTO_DIR): <dir>/<site id>/<id>.jpg
        self.photo_dir = photo_dir

    def wait_until_ready(self, timeout: float = 120) -> None:
        # Bounded, not short: importing the app takes 10–20 s on a loaded 2-core machine.
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"the e2e server exited with {self.process.returncode}:\n"
                    f"{self.log.read_text()}",
                    pytrace=False,
                )
            try:
                with urllib.request.urlopen(f"{self.url}/login", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                log = self.log.read_text()
                pytest.fail(f"the e2e server did not answer:\n{log}", pytrace=False)
            time.sleep(0.05)

    def stop(self) -> None:
        """Terminate and wait, so the process and its sockets are really gone."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise AssertionError(f"port {self.port} still accepts connections after stop")


@contextlib.contextmanager
def serve_demo(tmp_path_factory, artifacts, name: str = "e2e", now=None):
    """A demo server of its own (database `name`, log test-artifacts/<name>-server.log):
    the session's `live_server`, or a module's that changes the demo freely. `now`: an
    aware datetime its clock (and the demo's) starts from instead of the run's base, for a
    story that happens at one time of year; keep it no earlier than the real now (Chromium
    judges cookie expiry by the real clock)."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    database_url = _e2e_database_url(tmp_path_factory, name)
    # Not the project's instance/photos: the tests read the stored files from here.
    photo_dir = tmp_path_factory.mktemp(f"{name}-photos")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUTYPWA_", "FLASK_"))}
    env.update(
        {
            "DUTYPWA_SQLALCHEMY_DATABASE_URI": database_url,
            # Prefixed so that the JSON parsing of DUTYPWA_* values keeps it a string.
            "DUTYPWA_SECRET_KEY": f"e2e-{secrets.token_urlsafe(24)}",
            "DUTYPWA_PUBLIC_BASE_URL": base_url,
            "DUTYPWA_PHOTO_DIR": str(photo_dir),
            "DUTYPWA_COVERAGE_REFRESH_SECONDS": "2",
            "DUTYPWA_WTF_CSRF_ENABLED": "true",  # proves htmx sends X-CSRFToken
            "DUTYPWA_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # fast demo logins
            "PYTHONUNBUFFERED": "1",
        }
    )
    if now is not None:
        env[clock.PROCESS_ENV] = f"{now.isoformat()}@{time.time()!r}"
    _flask(env, "db", "upgrade")
    _flask(env, "seed-demo")

    log_path = artifacts / f"{name}-server.log"
    command = [*FLASK, "run", "--host", "127.0.0.1"]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port), "--no-reload", "--no-debugger"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(base_url, database_url, process, log_path, photo_dir)
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def live_server(_browser_available, tmp_path_factory, artifacts):
    """dutypwa in its own process (Flask's threaded server) with CSRF protection on."""
    with serve_demo(tmp_path_factory, artifacts) as server:
        yield server


class ServerDB:
    """Read-only look-ups in the live server's database (no test-only routes)."""

    def __init__(self, url: str):
        self.engine = create_engine(url)

    def scalars(self, statement) -> list:
        with Session(self.engine) as session:
            return list(session.scalars(statement))

    def scalar(self, statement):
        with Session(self.engine) as session:
            return session.scalar(statement)

    def checkpoint(self, code: str, site: str = "CUIHU") -> Checkpoint:
        return self.scalar(
            select(Checkpoint).join(Site).where(Site.code == site, Checkpoint.code == code)
        )

    def active_checkpoints(self, site: str = "CUIHU") -> list[Checkpoint]:
        return self.scalars(
            select(Checkpoint)
            .join(Site)
            .where(Site.code == site, Checkpoint.active)
            .order_by(Checkpoint.code)
        )

    def user(self, username: str) -> User:
        return self.scalar(select(User).where(User.username == username))

    def count_checkins(self, *conditions) -> int:
        return self.scalar(select(func.count()).select_from(CheckIn).where(*conditions))


@pytest.fixture(scope="session")
def server_db(live_server):
    db = ServerDB(live_server.database_url)
    yield db
    db.engine.dispose()


# The browser


@pytest.fixture(scope="session")
def browser(_browser_available):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_server):
    """Make a page in a fresh (incognito) context: new_page("phone") or new_page("desktop").

    These contexts run without the service worker: they test what a first visit or a
    browser without one does (forms post straight to the server). The offline-first app
    with its worker runs in `app_profile`."""
    contexts = []

    def make(kind: str = "phone"):
        options = {"viewport": PHONE, "is_mobile": True, "has_touch": True}
        if kind == "desktop":
            options = {"viewport": DESKTOP}
        context = browser.new_context(
            base_url=live_server.url, locale="zh-CN", service_workers="block", **options
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def phone(new_page):
    """A 360×640 touch phone in Chinese; phone() gives a page, page.context its context."""
    return lambda: new_page("phone")


@pytest.fixture
def desktop(new_page):
    """A desk screen (a supervisor's PC) in Chinese."""
    return lambda: new_page("desktop")


def submit_login(page, username: str, password: str = DEMO_PASSWORD) -> None:
    """Fill in and send the login form on the current page; wait until it has left /login."""
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.locator("form:has(input[name=password]) button").click()
    try:
        page.wait_for_url(lambda url: urlsplit(url).path != "/login", timeout=5_000)
    except PlaywrightError:
        errors = page.locator(".error").all_inner_texts()
        raise AssertionError(f"login as {username} failed: {errors}") from None


def open_more_menu(page) -> None:
    """Open 更多, where the language switch and logging out are (on a phone: the tab bar's)."""
    menu = page.locator(".topbar .more-menu")
    if menu.get_attribute("open") is None:
        menu.locator("> summary").click()
    expect(menu.locator(".more-links")).to_be_visible()


@pytest.fixture
def login_as():
    """Log in through the real login form: login_as(page, "1001")."""

    def log_in(page, username: str, password: str = DEMO_PASSWORD) -> None:
        page.goto("/login")
        submit_login(page, username, password)

    return log_in


class AppProfile:
    """A phone whose browser profile lives on disk, as an installed app's does: the service
    worker, its caches and IndexedDB survive `reopen()` (close the browser, launch it again).
    Persistent, not incognito: Chromium reports an incognito page as not installable."""

    def __init__(self, browser_type, directory: Path, base_url: str):
        self.browser_type = browser_type
        self.directory = directory
        self.base_url = base_url
        self.context = None

    def open(self, init_script: str | None = None, camera: Path | None = None, **screen) -> Page:
        """Launch the browser on this profile. `camera`: a Y4M video (write_y4m) that the
        phone's camera shows, with the camera permission granted. `screen`: another
        viewport / is_mobile / has_touch than the phone's (a tablet, a desk screen)."""
        device = {"viewport": PHONE, "is_mobile": True, "has_touch": True, **screen}
        self.context = self.browser_type.launch_persistent_context(
            str(self.directory),
            executable_path=CHROMIUM,
            args=[*LAUNCH_ARGS, *(fake_camera_args(camera) if camera else [])],
            headless=True,
            base_url=self.base_url,
            locale="zh-CN",
            **device,
        )
        self.context.set_default_timeout(10_000)
        if camera:
            # Granting through CDP denies every permission not named, background sync
            # included: name it too, so the app keeps what Chromium allows by default.
            self.context.grant_permissions(["camera", "background-sync"], origin=self.base_url)
        if init_script:
            self.context.add_init_script(init_script)
        return self.context.pages[0] if self.context.pages else self.context.new_page()

    def reopen(self, init_script: str | None = None, camera: Path | None = None) -> Page:
        self.close()
        return self.open(init_script, camera)

    def close(self) -> None:
        if self.context is not None:
            self.context.close()
            self.context = None


@pytest.fixture
def app_profile(browser, live_server, tmp_path):
    """app_profile.open() gives a 360×640 phone page in a fresh on-disk profile."""
    profile = AppProfile(browser.browser_type, tmp_path / "profile", live_server.url)
    yield profile
    profile.close()


# Waiting, bounded


def wait_until(condition, timeout: float = 10, what: str = "condition", page: Page | None = None):
    """Poll `condition` (a Python callable) until it returns something true, at most
    `timeout` seconds; that value is returned. Playwright's sync API runs route handlers
    and event listeners only while it is called: give the `page` whose context has a
    route (page.route / context.route) so that it waits through Playwright, or the routed
    requests hang until the next Playwright call."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if page is not None:
            page.wait_for_timeout(100)
        else:
            time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_script(page, script: str, arg=None, timeout: float = 10, what: str = "script"):
    """Poll an async browser-side check (page.wait_for_function does not await promises);
    a page that is navigating meanwhile is simply asked again."""

    def check():
        try:
            return page.evaluate(script, arg)
        except PlaywrightError:
            return None

    return wait_until(check, timeout=timeout, what=what)


# The offline-first app in a phone profile (docs/offline.md)

CONTROLLED = """() => navigator.serviceWorker.controller !== null
  && navigator.serviceWorker.controller.state === 'activated'"""

# This person's outbox records, read with the app's own modules (served at /sw/…).
OUTBOX = """async (userId) => {
  const { openDatabase } = await import('/sw/db.js');
  const { recordsOf } = await import('/sw/outbox.js');
  const db = await openDatabase();
  const records = await recordsOf(db, userId);
  db.close();
  return records.map((r) => ({
    id: r.id, kind: r.kind, state: r.state, user_id: r.user_id, device_id: r.device_id,
    last_error: r.last_error, payload: r.payload,
    photos: r.photos.map((p) => ({ id: p.id, sha256: p.sha256, size: p.size, type: p.type,
                                   stored: Boolean(p.stored) })),
  }));
}"""
HAS_REFERENCE = """async () => {
  const { openDatabase, referenceSites } = await import('/sw/db.js');
  const db = await openDatabase();
  const sites = await referenceSites(db);
  db.close();
  return sites.some((site) => site.checkpoints?.length);
}"""
# The login-only shells are saved for the person once a page has told the worker who it is.
SHELLS_SAVED = """async (userId) => {
  const cache = await caches.open(`dutypwa-pages-${userId}`);
  return Boolean(await cache.match('/app/checkpoint')) && Boolean(await cache.match('/sync'));
}"""


def user_id(page) -> str:
    return page.locator("body").get_attribute("data-user-id")


def start_app(
    profile,
    login_as,
    username: str = "1001",
    *,
    camera: Path | None = None,
    init_script: str | None = None,
    **screen,
) -> Page:
    """Open the app in its profile, log in, and wait until the worker controls the page,
    the reference data is on the phone and the shells are saved (what a patrol needs
    before walking into a basement). `camera`, `init_script`, `screen`: see AppProfile.open."""
    page = profile.open(init_script=init_script, camera=camera, **screen)
    login_as(page, username)
    page.wait_for_function(CONTROLLED)
    wait_for_script(page, HAS_REFERENCE, what="the reference data")
    wait_for_script(page, SHELLS_SAVED, user_id(page), what="the saved shells")
    return page


# What a phone's camera sees and takes


def phone_photo(width: int = 4000, height: int = 3000) -> bytes:
    """A camera-like JPEG: landscape pixels, EXIF orientation 6 (shown portrait) and GPS."""
    image = Image.new("RGB", (width, height), (40, 120, 90))
    for x in range(0, width, 200):
        image.paste((230, 200, 40), (x, 0, x + 60, height // 3))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x8825] = {1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}  # GPS
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85, exif=exif)
    return buffer.getvalue()


# Y4M (what Chromium's fake camera reads): 4:2:0, 10 frames a second, square pixels.
Y4M_WIDTH, Y4M_HEIGHT = 640, 480
DARK, LIGHT, NEUTRAL_CHROMA = 16, 235, 128


def qr_matrix(data: str) -> list[list[bool]]:
    """The QR modules of `data`, with the 4-module quiet zone the standard asks for."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(data)
    code.make(fit=True)
    return code.get_matrix()


def write_y4m(path: Path, data: str | None, frames: int = 2) -> Path:
    """A video of the QR code of `data`, dark modules on a light ground, centred; with
    `data` None, just the light ground (a camera pointed at a wall). Chromium reads the file
    each time a page starts the camera: write it again to show the camera something else."""
    width, height = Y4M_WIDTH, Y4M_HEIGHT
    matrix = qr_matrix(data) if data is not None else [[False]]
    scale = int(height * 0.9) // len(matrix)
    left = (width - len(matrix) * scale) // 2
    top = (height - len(matrix) * scale) // 2
    luma = bytearray([LIGHT]) * (width * height)
    dark_run = bytes([DARK]) * scale
    for row, modules in enumerate(matrix):
        for column, dark in enumerate(modules):
            if not dark:
                continue
            x = left + column * scale
            for y in range(top + row * scale, top + (row + 1) * scale):
                luma[y * width + x : y * width + x + scale] = dark_run
    chroma = bytes([NEUTRAL_CHROMA]) * (width * height // 4)
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + (b"FRAME\n" + bytes(luma) + chroma + chroma) * frames)
    return path


def fake_camera_args(video: Path) -> list[str]:
    """Chromium flags for a camera that shows `video` (grant the camera permission too)."""
    return [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
