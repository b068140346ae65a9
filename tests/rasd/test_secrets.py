"""Secrets are never printed: URLs' credentials are redacted in every message; engine
credentials in the URL work (sent as basic auth to a real loopback server)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "PASSWORD-s3cr3t"


def _rasd(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rasd.cli.main", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=dict(os.environ, **(env or {})))


class AuthServer:
    """Answers 401 to everything; records the Authorization headers it got."""

    def __init__(self):
        self.auth: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.auth.append(self.headers.get("Authorization"))
                body = b'{"error": "unauthorized"}'
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET  # noqa: N815

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_redact_secrets_anywhere_in_a_text():
    from rasd.core.errors import error_line, redact_secrets

    assert redact_secrets(f"cannot reach ftp://user:{SECRET}@host/x and http://a:b@c:9") == \
        "cannot reach ftp://***@host/x and http://***@c:9"
    assert SECRET not in error_line(ValueError(f"bad 'https://u:{SECRET}@h'"))


@pytest.mark.parametrize("args", [("status", "--data-dir", "{tmp}"), ("alerts", "list"), ("index", "status"),
                                  ("crawl", "--data-dir", "{tmp}")])
def test_a_non_http_engine_url_is_one_line_without_its_password(tmp_path, args):
    args = [a.format(tmp=tmp_path) for a in args]
    proc = _rasd(*args, env={"RASD_ENGINE__URL": f"ftp://user:{SECRET}@host"})
    assert proc.returncode == 2
    assert SECRET not in proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "ftp://***@host" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_credentials_in_the_engine_url_are_sent_as_basic_auth_and_never_shown(tmp_path):
    server = AuthServer()
    try:
        proc = _rasd("alerts", "list", env={"RASD_ENGINE__URL": f"http://rasd:{SECRET}@127.0.0.1:{server.port}"})
    finally:
        server.stop()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1
    expected = "Basic " + base64.b64encode(f"rasd:{SECRET}".encode()).decode()
    assert server.auth and set(server.auth) == {expected}


def test_a_job_store_error_is_one_line_without_its_password(tmp_path):
    proc = _rasd("schedule", "--data-dir", str(tmp_path), "--outlets", "youm7",
                 "--jobstore-url", f"postgresql://u:{SECRET}@127.0.0.1:1/rasd")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert "job store postgresql://***@127.0.0.1:1/rasd" in proc.stderr


def test_log_lines_are_redacted(capsys):
    import logging

    from rasd.cli.common import setup_logging

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        setup_logging("INFO", "json")
        logging.getLogger("rasd.test").warning("engine_failed url=%s", f"http://u:{SECRET}@127.0.0.1:1")
        setup_logging("INFO", "text")
        logging.getLogger("rasd.test").warning("engine_failed url=%s", f"http://u:{SECRET}@127.0.0.1:1")
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert SECRET not in err
    json_line, text_line = err.splitlines()
    assert '"log.level":"warning"' in json_line and '"message":"engine_failed url=http://***@127.0.0.1:1"' in json_line
    assert text_line.endswith("WARNING rasd.test engine_failed url=http://***@127.0.0.1:1")
