"""Fixtures of the fleet tests: a real Redis (Debian's ``redis-server``, started on a free
loopback port for the session unless ``RASD_TEST_REDIS_URL`` names one) and a key prefix per test,
so tests never see each other's state."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    url = os.environ.get("RASD_TEST_REDIS_URL")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (.ci/run installs Debian's redis-server; "
                    "scripts/redis-server starts one for developers)")
    port = _free_port()
    home = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(home),
                             "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("redis-server did not start")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def redis_client(redis_url):
    from rasd.core.shared import connect

    return connect(redis_url)


@pytest.fixture
def prefix(redis_client):
    """A fresh key prefix (``rasd-test-<id>:``); its keys are deleted after the test."""
    p = f"rasd-test-{uuid.uuid4().hex[:8]}:"
    yield p
    keys = list(redis_client.scan_iter(f"{p}*", count=1000))
    if keys:
        redis_client.delete(*keys)
