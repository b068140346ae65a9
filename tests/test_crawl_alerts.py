"""Keyword alerts end to end: add an alert with the CLI, replay-crawl the corpus with indexing
and alerts on, and receive the seed story once by mail and once by webhook — real search node,
real SMTP server (aiosmtpd) and real HTTP server on loopback, crawl in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.alerts.conftest import smtp, webhook  # noqa: F401  (fixtures)
from tests.search.conftest import ENGINE_URL, engine, make_prefix  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.search]

CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"
SEED_TITLE = "مسؤولون عراقيون يطالبون قوات التحالف بقيادة الولايات المتحدة بمغادرة بلادهم"


def _rasd(args: list[str], env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "rasd.cli.main", *args], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def test_replay_crawl_notifies_the_seed_story_once(engine, make_prefix, smtp, webhook, tmp_path):
    prefix = make_prefix(init=True)
    port, inbox = smtp
    env = dict(os.environ, RASD_ENGINE__URL=ENGINE_URL, RASD_ENGINE__INDEX_PREFIX=prefix,
               RASD_ALERTS_ENABLED="1")
    _rasd(["alerts", "add", "iraq-coalition", "--query", "مسئولون AND التحالف", "--webhook", webhook.url,
           "--email", "analyst@example.org", "--smtp-host", "127.0.0.1", "--smtp-port", str(port)], env)
    data = tmp_path / "data"
    for _ in range(2):  # the second crawl finds nothing new and must notify nothing
        _rasd(["crawl", "--replay", str(CORPUS), "--data-dir", str(data), "--index", "--json"], env)

    assert len(webhook.received) == 1, webhook.received
    assert SEED_TITLE in json.dumps(webhook.received[0], ensure_ascii=False)
    assert len(inbox.messages) == 1
    recipients, message = inbox.messages[0]
    assert recipients == ["analyst@example.org"]
    assert SEED_TITLE in message["Subject"] or SEED_TITLE in message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert 'dir="rtl"' in html and "<mark>" in html

    shown = json.loads(_rasd(["alerts", "test", "iraq-coalition", "--since", "2024-01-01", "--json"], env).stdout)
    stories = shown["stories"] if isinstance(shown, dict) else shown
    assert len(stories) == 1
    assert sorted(stories[0]["outlets"]) == ["akhbar_example", "euronews_arabic"]
