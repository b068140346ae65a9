"""Lazy start-up: a crawl process loads only what the stages that run need.

A one-page ``rasd crawl`` of a loopback recording (``rasd.replay.recording``) runs in a child
process, as users run it, under a small wrapper that writes the names of the modules the crawl
process had imported when it exited.  With the index and alert stages off (the defaults) no
search client, alert machinery or channel library is loaded; the story stage makes its MinHash
without datasketch or scipy; Scrapy's remote-control server (aiohttp) is not loaded; the crawl
process itself never extracts (its worker processes do), so it does not import trafilatura.
``rasd --help`` loads no Scrapy, pydantic models or settings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rasd.replay.recording import make_recording

pytestmark = pytest.mark.integration

WRAPPER = """
import atexit, json, runpy, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
if __name__ == "__main__":
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""

NEVER_IN_A_PLAIN_CRAWL = ("opensearchpy", "elasticsearch", "rasd.search.engine", "rasd.alerts.follower",
                          "rasd.alerts.outbox", "apprise", "starlette", "uvicorn", "jinja2", "datasketch",
                          "scipy", "aiohttp", "scrapy.extensions.remote_control", "trafilatura", "htmldate")


def _modules_of(tmp_path: Path, *args: str) -> tuple[set[str], str]:
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(WRAPPER, encoding="utf-8")
    out = tmp_path / "modules.json"
    proc = subprocess.run([sys.executable, str(wrapper), str(out), *args], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {m.split(".")[0] if not m.startswith(("rasd.", "scrapy.")) else m
            for m in json.loads(out.read_text())}, proc.stdout


def test_one_page_crawl_loads_only_the_stages_that_run(tmp_path):
    make_recording(tmp_path / "rec", outlets=1, pages_per_outlet=1, syndicated_stories=0)
    modules, stdout = _modules_of(tmp_path, "rasd.cli.main", "crawl", "--replay", str(tmp_path / "rec"),
                                  "--data-dir", str(tmp_path / "data"), "--json")
    summary = json.loads(stdout[stdout.index("{"):])
    assert sum(s["outcomes"].get("archived", 0) for s in summary.values()) == 1
    assert sorted(m for m in NEVER_IN_A_PLAIN_CRAWL if m in modules) == []
    assert {"scrapy", "rasd.pipelines.storyindex", "rasd.pipelines.extract"} <= modules


def test_help_loads_no_crawl_machinery(tmp_path):
    modules, stdout = _modules_of(tmp_path, "rasd.cli.main", "--help")
    assert "crawl" in stdout
    assert sorted(m for m in ("scrapy", "twisted", "rasd.core.seeds", "rasd.core.settings", "numpy",
                              "pydantic_settings", *NEVER_IN_A_PLAIN_CRAWL) if m in modules) == []
