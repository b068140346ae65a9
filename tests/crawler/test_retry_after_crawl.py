"""Bounded waits (fault B): ``Retry-After`` in every form is honoured once, and a wait that does
not fit in the run defers the page to a later run instead of holding the crawl.

Live crawls of outlets on ``127.0.0.1`` (real Scrapy download handler) in child processes:
``rasd crawl`` for several outlets at once, ``python -m rasd.scheduler.child`` where the run has a
deadline, as the scheduler gives it.  The loopback server keeps answering ``503`` until the time
it stated (case 29), so an early retry would be seen, and records when each request came.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from rasd.pipelines.seenstore import (SeenStore)
from rasd.core.urls import canonicalize_url
from tests.loopback import (ROOT, Answer, LoopbackServer, UnavailableFor, archived_urls, crawl_env,
                            outlet, real_pages, rss, write_seeds)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WAIT = 3.0  # seconds each server asks for


def _rasd_crawl(tmp, env: dict) -> tuple[dict, float]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "rasd.cli.main", "crawl", "--data-dir", str(tmp / "data"), "--json"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout), time.monotonic() - t0


def test_each_retry_after_form_is_honoured_with_one_retry_after_the_stated_time(tmp_path):
    pages = real_pages()
    forms = {"seconds": UnavailableFor(WAIT, Answer(body=pages[0]), "seconds"),
             "imf": UnavailableFor(WAIT, Answer(body=pages[1]), "imf"),
             "iso": UnavailableFor(WAIT, Answer(body=pages[2]), "iso")}
    with LoopbackServer() as server:
        b, site = server.base_url, server.site
        outlets = {}
        for form, responder in forms.items():  # one outlet each: their waits run side by side
            site.put(f"/{form}/1", responder)
            site.put(f"/{form}.xml", rss([f"{b}/{form}/1"]))
            outlets[f"ra_{form}"] = outlet(f"ra_{form}", b, [f"/{form}.xml"])
        seeds = write_seeds(tmp_path / "seeds", outlets)
        summary, elapsed = _rasd_crawl(tmp_path, crawl_env(RASD_SEEDS_DIR=str(seeds)))
    for form, responder in forms.items():
        hits = site.hits(f"/{form}/1")
        assert len(hits) == 2, (form, hits)  # one retry
        assert hits[1] >= responder.until, (form, hits[1] - responder.until)  # not before the stated time
        assert hits[1] - responder.until < 2.0, form  # nor much after it
        assert summary[f"ra_{form}"]["outcomes"] == {"archived": 1}, form
        print(f"{form}: retried {hits[1] - hits[0]:.2f} s after the 503, "
              f"{hits[1] - responder.until:+.2f} s from the stated time")
    assert elapsed < 30


def test_a_long_retry_after_is_deferred_counted_and_fetched_by_a_later_run(tmp_path):
    pages = real_pages()
    defer_max = 10.0  # the page is due again this long after it was deferred (not in 3 years)
    env = crawl_env(RASD_CRAWL__RETRY_DEFER_MAX_SECONDS=str(defer_max))
    with LoopbackServer() as server:
        b, site = server.base_url, server.site
        site.put("/slow/1", Answer(503, b"busy\n", "text/plain", {"Retry-After": "99999999"}))
        site.put("/slow.xml", rss([b + "/slow/1"]))
        for i in (1, 2):
            site.put(f"/fast/{i}", Answer(body=pages[i]))
        site.put("/fast.xml", rss([b + "/fast/1", b + "/fast/2"]))
        seeds = write_seeds(tmp_path / "seeds", {"slow": outlet("slow", b, ["/slow.xml"]),
                                                 "fast": outlet("fast", b, ["/fast.xml"])})
        env["RASD_SEEDS_DIR"] = str(seeds)

        # run 1: the 503 is not waited for (it would take three years, or 30 min capped)
        first, elapsed = _rasd_crawl(tmp_path, env)
        assert first["slow"]["outcomes"] == {"deferred/retry_after": 1}
        assert first["fast"]["outcomes"] == {"archived": 2}  # the other outlet, on time
        assert elapsed < 20 and len(site.hits("/slow/1")) == 1
        with SeenStore(tmp_path / "data" / "seen.sqlite") as seen:
            [(canonical, url, not_before, reason)] = seen.deferred_urls("slow")
            assert (url, reason) == (b + "/slow/1", "retry_after") and not seen.seen_url(canonical)
        assert time.time() < not_before <= time.time() + defer_max

        # the page comes back; the listing no longer shows it
        site.put("/slow/1", Answer(body=pages[3]))
        site.put("/slow.xml", rss([]))

        # run 2, before it is due: not requested
        second, _ = _rasd_crawl(tmp_path, env)
        if time.time() < not_before:  # the run ended before the page was due (a slow machine may not)
            assert len(site.hits("/slow/1")) == 1 and second["slow"]["outcomes"] == {}

        # run 3, once due: requested although no listing shows it, archived, and forgotten
        time.sleep(max(0.0, not_before - time.time()))
        third, _ = _rasd_crawl(tmp_path, env)
    assert third["slow"]["outcomes"] == {"archived": 1}
    assert site.hits("/slow/1")[-1] >= not_before
    assert b + "/slow/1" in archived_urls(tmp_path / "data")
    with SeenStore(tmp_path / "data" / "seen.sqlite") as seen:
        assert seen.deferred_urls("slow") == [] and seen.seen_url(canonicalize_url(b + "/slow/1"))


def test_a_wait_past_the_runs_deadline_defers_the_page(tmp_path):
    pages = real_pages()
    with LoopbackServer() as server:
        b, site = server.base_url, server.site
        site.put("/a/1", Answer(503, b"busy\n", "text/plain", {"Retry-After": "30"}))  # < longest wait
        site.put("/a/2", Answer(body=pages[5]))
        site.put("/rss.xml", rss([b + "/a/1", b + "/a/2"]))
        outlets_file = tmp_path / "outlets.json"
        outlets_file.write_text(json.dumps({"dl": outlet("dl", b, ["/rss.xml"])}), encoding="utf-8")
        t0, wall0 = time.monotonic(), time.time()
        proc = subprocess.run(
            [sys.executable, "-m", "rasd.scheduler.child", "dl", "--data-dir", str(tmp_path / "data"),
             "--outlets-file", str(outlets_file), "--deadline", str(time.time() + 25)],
            capture_output=True, text=True, timeout=120, cwd=ROOT, env=crawl_env())
        elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["outcomes"] == {"archived": 1, "deferred/retry_after": 1}
    assert elapsed < 15 and len(site.hits("/a/1")) == 1  # 30 s + margin would pass the deadline
    with SeenStore(tmp_path / "data" / "seen.sqlite") as seen:
        [(_, url, not_before, _)] = seen.deferred_urls("dl")
    assert url == b + "/a/1" and wall0 + 30 <= not_before <= wall0 + elapsed + 30  # due when the server said


def test_a_long_retry_wait_is_told_on_stderr_while_the_crawl_waits(tmp_path):
    """A crawl waiting out a server's errors used to print nothing until its summary (a 30-page
    crawl with ten 500s was silent for minutes).  A wait of 5 s or more is one line on stderr
    (and in the log) when it starts, not only in the summary at the end."""
    pages = real_pages()
    with LoopbackServer() as server:
        b, site = server.base_url, server.site
        site.put("/slow/1", UnavailableFor(5.0, Answer(body=pages[0])))
        site.put("/slow.xml", rss([f"{b}/slow/1"]))
        seeds = write_seeds(tmp_path / "seeds", {"ra_slow": outlet("ra_slow", b, ["/slow.xml"])})
        proc = subprocess.run([sys.executable, "-m", "rasd.cli.main", "crawl", "--data-dir", str(tmp_path / "data")],
                              capture_output=True, text=True, timeout=120, cwd=ROOT,
                              env=crawl_env(RASD_SEEDS_DIR=str(seeds)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    told = [line for line in proc.stderr.splitlines() if line.startswith("rasd: retrying ")]
    assert told == [f"rasd: retrying {b}/slow/1 in 5 s (HTTP 503; retry 1 of 3, the server's Retry-After)"]
    log = (tmp_path / "data" / "logs" / "crawl.log").read_text()
    assert "logger=rasd.progress " + told[0].removeprefix("rasd: ") in log
    assert len(archived_urls(tmp_path / "data")) == 1
