"""Fixtures for the web tests: the real app served by uvicorn on 127.0.0.1 (a thread of the
test process), the real search node (``tests/search``), and a real browser — Debian's
``chromium`` driven by Playwright (``/usr/bin/chromium`` or ``$RASD_CHROMIUM``; the browser
tests are skipped, saying so, only when no such executable exists)."""

from __future__ import annotations

import os
import shutil
import threading
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.alerts.conftest import free_port, smtp, webhook  # noqa: F401  (fixtures)
from tests.search.conftest import SETTINGS, engine, loaded, make_prefix, records  # noqa: F401

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def web_settings(prefix: str, data_dir: Path, **web):
    """Rasd settings for a test: the test node, index prefix ``prefix``, ``data_dir``, and
    ``web`` overrides."""
    from rasd.core.settings import WebSettings

    return SETTINGS.model_copy(update={
        "data_dir": Path(data_dir), "engine": SETTINGS.engine.model_copy(update={"index_prefix": prefix}),
        "web": WebSettings(**web)})


class AppServer:
    """The web app of ``settings`` on a free loopback port (uvicorn in a thread)."""

    def __init__(self, settings):
        import uvicorn

        from rasd.web.app import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the web app did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class Client:
    """A plain HTTP client with cookies (``urllib``) for the app: ``get``/``post`` return
    ``(status, headers, text)``; redirects are not followed."""

    def __init__(self, base: str, headers: dict | None = None):
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kw):
                return None

        self.base, self.extra = base, headers or {}
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def _open(self, req):
        for k, v in self.extra.items():
            req.add_header(k, v)
        try:
            with self.opener.open(req, timeout=60) as resp:
                return resp.status, dict(resp.headers), resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode("utf-8", "replace")

    def url(self, path: str) -> str:
        return self.base + urllib.parse.quote(path, safe="/?=&:%+#!,;@")

    def get(self, path: str):
        return self._open(urllib.request.Request(self.url(path)))

    def post(self, path: str, data: dict | list):
        body = urllib.parse.urlencode(data, doseq=True).encode()
        return self._open(urllib.request.Request(self.url(path), data=body, method="POST"))

    def csrf(self, path: str = "/alerts/new") -> str:
        import re

        _, _, html = self.get(path)
        return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


@pytest.fixture
def app_server():
    """``app_server(settings)`` → a started :class:`AppServer` (stopped after the test)."""
    started = []

    def start(settings):
        server = AppServer(settings)
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


def chromium_path() -> str | None:
    for candidate in (os.environ.get("RASD_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium (Debian's) through Playwright; skipped only without the executable."""
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium executable (apt-get install chromium, or set RASD_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Playwright gives every launch a fresh temporary profile (user-data dir) of its own
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def artefacts() -> Path:
    """Where the browser tests save screenshots: ``$RASD_TEST_ARTEFACTS`` or
    ``<repo>/test-artefacts/web`` (printed by the tests)."""
    path = Path(os.environ.get("RASD_TEST_ARTEFACTS") or Path(__file__).resolve().parents[2] / "test-artefacts" / "web")
    path.mkdir(parents=True, exist_ok=True)
    return path
