"""Shared by the browser benchmarks (flush.py, page_weight.py): the demo app in a process of
its own on loopback, on a database prepared by the real `flask db upgrade` and `seed-demo`
(as tests/e2e/conftest.py does, without pytest), with a log of every request it served;
Debian's Chromium settings from /work/shared/TESTING.md; and the login helper.

    .venv/bin/python bench/_server.py serve --port N --log FILE   (what Server starts)

The request log (Server.requests()) has one JSON object per request the server answered:
`method`, `path`, `status`, `content_type`; `wire_in` / `wire_out`, the bytes the server
read from / wrote to the socket for it (request line, headers and body; status line,
headers and body: HTTP/1.1 as on the link, without TCP/IP overhead); `body_bytes` and
`response_body_bytes`; `response_gzip6_bytes`, what the response body would weigh gzipped
at level 6 by a compressor for text types (unchanged for images and small bodies); `ops`,
the op count by kind of a POST /api/v1/sync; and the server's clock (time.time(), the
same clock as the benchmark's): `started_at` when the request line and headers had
arrived, `body_read_at` when the app had read the last of the body, `finished_at` when
the last response byte was written. The app itself is unchanged: a WSGI wrapper and
Werkzeug request handler of this file do the counting.
"""

import argparse
import gzip
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium")
# Keep Chromium quiet on a closed network (/work/shared/TESTING.md, tests/e2e/conftest.py).
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 640}
DEMO_SITE = "CUIHU"
DEMO_USER = "1001"
DEMO_PASSWORD = "demo1234"
CONTROLLED = """() => navigator.serviceWorker.controller !== null
  && navigator.serviceWorker.controller.state === 'activated'"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def require_chromium() -> str:
    if CHROMIUM is None:
        sys.exit("no `chromium` on PATH: apt-get install -y chromium (see /work/shared/TESTING.md)")
    return CHROMIUM


class Server:
    """The demo app (Werkzeug's threaded server, as `flask run`) on 127.0.0.1:<free port>,
    SQLite and photos in a temporary folder; a context manager that always stops it."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="dutypwa-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = f"sqlite:///{self.folder / 'dutypwa.sqlite3'}"
        self.log_path = self.folder / "requests.jsonl"
        self.output_path = self.folder / "server.log"
        self.process: subprocess.Popen | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DUTYPWA_", "FLASK_"))}
        self.env.update(
            {
                "DUTYPWA_SQLALCHEMY_DATABASE_URI": self.database_url,
                # Prefixed so that the JSON parsing of DUTYPWA_* values keeps it a string.
                "DUTYPWA_SECRET_KEY": f"bench-{secrets.token_urlsafe(24)}",
                "DUTYPWA_PUBLIC_BASE_URL": self.url,
                "DUTYPWA_PHOTO_DIR": str(self.folder / "photos"),
                "DUTYPWA_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # fast demo logins
                "PYTHONUNBUFFERED": "1",
            }
        )

    def __enter__(self) -> "Server":
        try:
            self._flask("db", "upgrade")
            self._flask("seed-demo")
            with self.output_path.open("w") as output:
                self.process = subprocess.Popen(
                    [
                        *(sys.executable, str(Path(__file__).resolve()), "serve"),
                        *("--port", str(self.port), "--log", str(self.log_path)),
                    ],
                    cwd=ROOT,
                    env=self.env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            self._wait_until_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def _flask(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "dutypwa", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"`flask {' '.join(args)}` failed:\n{done.stdout}\n{done.stderr}")

    def _wait_until_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.output_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/login", timeout=1) as response:
                    if response.status == 200:
                        self.requests()  # the log exists and parses
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the server did not answer:\n{self.output_path.read_text()}")

    def requests(self) -> list[dict]:
        """Every request served so far, in the order they finished."""
        if not self.log_path.exists():
            return []
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def quiet(self, seconds: float = 1.0, timeout: float = 30) -> None:
        """Wait until no new request has come for `seconds` (at most `timeout`)."""
        deadline = time.monotonic() + timeout
        seen = len(self.requests())
        calm_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.15)
            now = len(self.requests())
            if now != seen:
                seen, calm_since = now, time.monotonic()
            elif time.monotonic() - calm_since >= seconds:
                return

    def output_tail(self, lines: int = 30) -> str:
        return "\n".join(self.output_path.read_text().splitlines()[-lines:])


def log_in(page, username: str = DEMO_USER, password: str = DEMO_PASSWORD) -> None:
    """The real login form, as tests/e2e/conftest.py's login_as does it."""
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.locator("form:has(input[name=password]) button").click()
    page.wait_for_url(lambda url: urlsplit(url).path != "/login", timeout=10_000)


class WorkerSession:
    """A CDP session of our own on the service worker's target.

    Playwright opens CDP sessions on pages and frames only, and Chromium keeps a page's
    Network.emulateNetworkConditions to that page: the worker's own fetches (the outbox
    flush, the precache) are not throttled by it. So this attaches to the worker's target
    from a browser-level session (Target.attachToTarget, not flattened) and talks to it
    through Target.sendMessageToTarget. Events arrive while Playwright is busy (any call,
    page.wait_for_timeout): `pump` is such a call, made while waiting for an answer."""

    def __init__(self, context, pump, timeout: float = 10):
        self.browser_session = context.browser.new_browser_cdp_session()
        self.pump = pump
        targets = wait_until(
            lambda: [
                target
                for target in self.browser_session.send("Target.getTargets")["targetInfos"]
                if target["type"] == "service_worker"
            ],
            timeout=timeout,
            what="the service worker's target",
        )
        if len(targets) != 1:
            raise RuntimeError(f"expected one service worker, found {len(targets)}")
        self.target_id = targets[0]["targetId"]
        self.session_id = self.browser_session.send(
            "Target.attachToTarget", {"targetId": self.target_id, "flatten": False}
        )["sessionId"]
        self.last_id = 0
        self.answers: dict = {}
        self.listeners: dict = {}
        self.browser_session.on("Target.receivedMessageFromTarget", self._received)

    def _received(self, event: dict) -> None:
        if event.get("sessionId") != self.session_id:
            return
        message = json.loads(event["message"])
        if "id" in message:
            self.answers[message["id"]] = message
            return
        for listener in self.listeners.get(message.get("method"), []):
            listener(message.get("params", {}))

    def on(self, method: str, listener) -> None:
        self.listeners.setdefault(method, []).append(listener)

    def send(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        self.last_id += 1
        message_id = self.last_id
        message = json.dumps({"id": message_id, "method": method, "params": params or {}})
        self.browser_session.send(
            "Target.sendMessageToTarget", {"sessionId": self.session_id, "message": message}
        )
        deadline = time.monotonic() + timeout
        while message_id not in self.answers:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the service worker did not answer {method}")
            self.pump()
        answer = self.answers.pop(message_id)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def evaluate(self, expression: str, timeout: float = 30):
        """Run `expression` (a promise is awaited) in the worker; its JSON value."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"in the worker: {result['exceptionDetails']}")
        return result["result"].get("value")

    def detach(self) -> None:
        try:
            self.browser_session.send("Target.detachFromTarget", {"sessionId": self.session_id})
            self.browser_session.detach()
        except Exception:  # the browser may be closing already
            pass


def network_conditions(
    *, offline: bool = False, rtt_ms: float = 0, down_bps: float = -1, up_bps: float = -1
) -> dict:
    """Network.emulateNetworkConditions parameters; rates in bits per second (-1: none).
    `latency` is Chromium's minimum time from request sent to response headers received:
    one round trip per request (no TCP or TLS handshakes are modelled)."""
    return {
        "offline": offline,
        "latency": rtt_ms,
        "downloadThroughput": down_bps / 8 if down_bps > 0 else -1,
        "uploadThroughput": up_bps / 8 if up_bps > 0 else -1,
    }


def wait_until(condition, timeout: float = 10, what: str = "condition", every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


# The server process

_current = threading.local()  # the log entry of the request this thread is serving
# Bodies a compressor for text would gzip (flask-compress's defaults, plus wasm).
COMPRESSIBLE = (
    "text/",
    "application/javascript",
    "application/json",
    "application/manifest+json",
    "application/wasm",
    "image/svg+xml",
)
COMPRESS_MIN_SIZE = 500  # flask-compress's default: smaller bodies are sent as they are
GZIP_HEADERS = len("Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n")


class _Counting:
    """A socket file (rfile or wfile) that counts the bytes going through it."""

    def __init__(self, stream):
        self.stream = stream
        self.count = 0

    def read(self, *args):
        data = self.stream.read(*args)
        self.count += len(data)
        return data

    def readline(self, *args):
        data = self.stream.readline(*args)
        self.count += len(data)
        return data

    def readinto(self, buffer):
        size = self.stream.readinto(buffer)
        self.count += size or 0
        return size

    def write(self, data):
        self.count += len(data)
        return self.stream.write(data)

    def __getattr__(self, name):
        return getattr(self.stream, name)


class _CountingInput:
    """wsgi.input that notes when the app read the last of the body; the body of a sync
    request is kept to count its ops by kind."""

    def __init__(self, stream, entry: dict, keep: bool):
        self.stream = stream
        self.entry = entry
        self.kept = bytearray() if keep else None

    def _seen(self, data):
        self.entry["body_bytes"] += len(data)
        self.entry["body_read_at"] = time.time()
        if self.kept is not None:
            self.kept += data
        return data

    def read(self, *args):
        return self._seen(self.stream.read(*args))

    def readline(self, *args):
        return self._seen(self.stream.readline(*args))

    def readlines(self, *args):
        return [self._seen(line) for line in self.stream.readlines(*args)]

    def __iter__(self):
        for line in self.stream:
            yield self._seen(line)


def _gzip_size(body: bytes, content_type: str) -> int:
    """What the body would weigh gzipped at level 6 by a compressor for text types."""
    if not content_type.startswith(COMPRESSIBLE) or len(body) < COMPRESS_MIN_SIZE:
        return len(body)
    return min(len(body), len(gzip.compress(body, compresslevel=6)) + GZIP_HEADERS)


class RequestLog:
    """WSGI middleware: notes what the app saw of each request (see the module docstring);
    _CountingHandler adds the wire bytes and writes the line."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        entry = {
            "method": environ["REQUEST_METHOD"],
            "path": environ.get("PATH_INFO", ""),
            "status": None,
            "content_type": "",
            "content_encoding": None,
            "body_bytes": 0,
            "response_body_bytes": 0,
            "response_gzip6_bytes": 0,
            "started_at": time.time(),
            "body_read_at": None,
        }
        _current.entry = entry
        keep = entry["method"] == "POST" and entry["path"] == "/api/v1/sync"
        counting = _CountingInput(environ["wsgi.input"], entry, keep)
        environ["wsgi.input"] = counting

        def start(status, headers, exc_info=None):
            entry["status"] = int(status.split()[0])
            named = {name.lower(): value for name, value in headers}
            entry["content_type"] = named.get("content-type", "")
            entry["content_encoding"] = named.get("content-encoding")
            return start_response(status, headers, exc_info)

        body = self.app(environ, start)
        sent = bytearray()
        try:
            for chunk in body:
                sent += chunk
                yield chunk
        finally:
            if hasattr(body, "close"):
                body.close()
            entry["response_body_bytes"] = len(sent)
            entry["response_gzip6_bytes"] = _gzip_size(bytes(sent), entry["content_type"])
            if counting.kept:
                entry["ops"] = _ops_by_kind(bytes(counting.kept))


def _ops_by_kind(body: bytes) -> dict:
    try:
        ops = json.loads(body).get("ops", [])
    except (ValueError, AttributeError):
        return {}
    kinds: dict = {}
    for op in ops:
        kind = op.get("kind") if isinstance(op, dict) else None
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def _counting_handler(log_path: str):
    from werkzeug.serving import WSGIRequestHandler

    log = open(log_path, "a", buffering=1)  # noqa: SIM115 (open as long as the process)
    lock = threading.Lock()

    class CountingHandler(WSGIRequestHandler):
        """Counts the bytes of each request and response on the socket: the request line,
        headers and body the server read; the status line, headers and body it wrote."""

        def setup(self):
            super().setup()
            self.rfile = _Counting(self.rfile)
            self.wfile = _Counting(self.wfile)

        def handle_one_request(self):
            self.rfile.count = self.wfile.count = 0
            _current.entry = None
            super().handle_one_request()
            entry, _current.entry = _current.entry, None
            if entry is None:
                return
            entry["wire_in"] = self.rfile.count
            entry["wire_out"] = self.wfile.count
            entry["finished_at"] = time.time()
            with lock:
                log.write(json.dumps(entry) + "\n")

    return CountingHandler


def serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="_server.py serve")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args(argv)
    from werkzeug.serving import run_simple

    from dutypwa import create_app

    app = create_app()
    app.wsgi_app = RequestLog(app.wsgi_app)
    run_simple(
        "127.0.0.1",
        args.port,
        app,
        threaded=True,
        use_reloader=False,
        request_handler=_counting_handler(args.log),
    )


if __name__ == "__main__":
    if sys.argv[1:2] != ["serve"]:
        sys.exit(__doc__)
    serve(sys.argv[2:])
