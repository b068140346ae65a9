"""Every kind of redirect, and an over-long URL, ends in one counted outcome (fault A).

A live crawl (``python -m rasd.scheduler.child``, as the scheduler runs it) of an outlet on
``127.0.0.1`` whose feed lists pages that redirect: within the site, to another port of the same
host (a second loopback server, which is not the outlet's), in chains, off the outlet's domains, to themselves, in loops,
too often, with an empty, missing or garbage ``Location``, to a URL over 2,083 characters, and by
``<meta http-equiv="refresh">``.  Scrapy's middlewares would drop most of them uncounted; here
each page has exactly one outcome and the outcomes add up to the pages requested.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from rasd.pipelines.seenstore import (SeenStore)
from rasd.core.urls import canonicalize_url
from tests.loopback import (HTML, ROOT, Answer, LoopbackServer, archived_urls, crawl_env, outlet,
                            real_pages, redirect, rss)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_REDIRECTS = 4
LONG = "/x?q=" + "a" * 2100


def _with_meta_refresh(page: bytes, content: str) -> bytes:
    tag = f'<meta http-equiv="refresh" content="{content}">'.encode()
    return re.sub(rb"<head[^>]*>", lambda m: m.group(0) + tag, page, count=1)


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("redirects")
    pages = real_pages()
    with LoopbackServer() as main, LoopbackServer() as other:
        site, b = main.site, main.base_url
        site.put("/a/1", Answer(body=pages[0]))
        other.site.put("/a/2", Answer(body=pages[1]))
        site.put("/a/3", Answer(body=pages[2]))
        site.put("/a/4", Answer(body=pages[3]))
        expected = {
            "/r/same": "archived",  # 301 within the site
            # 302 to another port of the outlet's host: another server, not the outlet's
            "/r/port": "skipped/offsite_redirect",
            "/r/chain": "archived",  # 307 → 308 → 200, within the hop limit
            "/r/offsite": "skipped/offsite_redirect",
            "/r/offhost": "skipped/offsite_redirect",  # same machine, another host name
            "/r/self": "skipped/redirect_loop",
            "/r/loop-a": "skipped/redirect_loop",  # a → b → a
            "/r/long-chain": "skipped/too_many_redirects",
            "/r/empty": "skipped/bad_redirect",
            "/r/none": "skipped/bad_redirect",
            "/r/garbage": "skipped/bad_redirect",
            "/r/scheme": "skipped/bad_redirect",
            "/r/long": "skipped/url_too_long",  # the target is too long
            LONG: "skipped/url_too_long",  # listed as it is
            "/m/refresh": "archived",  # meta refresh → /a/4
            "/m/offsite": "skipped/offsite_redirect",
            "/m/self": "archived",  # a page that refreshes itself is the article
        }
        site.put("/r/same", redirect("/a/1", 301))
        site.put("/r/port", redirect(f"{other.base_url}/a/2", 302))
        site.put("/r/chain", redirect("/r/chain/1", 307))
        site.put("/r/chain/1", redirect(b + "/a/3", 308))
        site.put("/r/offsite", redirect("http://elsewhere.invalid/news/1", 301))
        site.put("/r/offhost", redirect(f"http://localhost:{other.port}/a/2", 301))
        site.put("/r/self", redirect("/r/self", 301))
        site.put("/r/loop-a", redirect("/r/loop-b", 302))
        site.put("/r/loop-b", redirect(b + "/r/loop-a", 302))
        site.put("/r/long-chain", redirect("/r/c1", 302))
        for i in range(1, 9):
            site.put(f"/r/c{i}", redirect(f"/r/c{i + 1}", 302))
        site.put("/r/empty", redirect(b"", 302))
        site.put("/r/none", redirect(None, 302))
        site.put("/r/garbage", redirect(b"http://[::1\xff", 302))
        site.put("/r/scheme", redirect("javascript:location='/a/1'", 302))
        site.put("/r/long", redirect(LONG, 301))
        site.put("/m/refresh", Answer(body=b'<html><head><meta http-equiv="refresh" content="0; url=/a/4">'
                                      b"</head><body>moved</body></html>"))
        site.put("/m/offsite", Answer(body=b'<html><head><meta http-equiv="refresh" '
                                      b'content="1;URL=\'http://elsewhere.invalid/\'"></head></html>', content_type=HTML))
        site.put("/m/self", Answer(body=_with_meta_refresh(pages[4], f"30; url={b}/m/self")))
        site.put("/rss.xml", rss([b + path for path in expected]))
        outlets_file = tmp / "outlets.json"
        outlets_file.write_text(json.dumps({"redir": outlet("redir", b, ["/rss.xml"])}), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "rasd.scheduler.child", "redir", "--data-dir", str(tmp / "data"),
             "--outlets-file", str(outlets_file)],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
            env=crawl_env(RASD_CRAWL__MAX_REDIRECTS=str(MAX_REDIRECTS)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), expected, site, other.site, b, tmp / "data"


def test_each_redirect_kind_has_its_outcome(crawl):
    summary, expected, _, _, _, _ = crawl
    want: dict[str, int] = {}
    for outcome in expected.values():
        want[outcome] = want.get(outcome, 0) + 1
    assert summary["outcomes"] == want


def test_outcomes_add_up_to_the_pages_requested(crawl):
    summary, expected, _, _, _, data = crawl
    assert summary["links"]["listed"] == len(expected)
    assert summary["pages"] == sum(summary["outcomes"].values()) == len(expected)
    assert "failed/no_outcome" not in summary["outcomes"]
    log = (data / "logs" / "crawl-redir.log").read_text(encoding="utf-8")
    assert "'rasd/pages/redir/requested': %d" % len(expected) in log
    assert "pages_without_outcome" not in log


def test_redirects_were_followed_only_as_far_as_allowed(crawl):
    _, _, site, other, base, data = crawl
    assert other.hits("/a/2") == []  # the other port of the host: never requested
    assert len(site.hits("/r/self")) == 1 and len(site.hits("/r/loop-a")) == 1 and len(site.hits("/r/loop-b")) == 1
    assert [len(site.hits(f"/r/c{i}")) for i in range(1, 7)] == [1, 1, 1, 1, 0, 0]  # 4 hops, no 5th
    assert site.hits(LONG) == []  # never requested
    archived = {u.replace(base, "") for u in archived_urls(data)}
    assert archived == {"/a/1", "/a/3", "/a/4", "/m/self"}


def test_only_answers_about_the_url_itself_are_remembered(crawl):
    _, _, _, _, base, data = crawl
    with SeenStore(data / "seen.sqlite") as seen:
        assert seen.seen_url(canonicalize_url(base + "/r/offsite"))  # moved off the outlet: stays so
        assert seen.seen_url(canonicalize_url(base + LONG))
        for transient in ("/r/self", "/r/loop-a", "/r/long-chain", "/r/empty"):  # server states: retried
            assert not seen.seen_url(canonicalize_url(base + transient)), transient
