"""Any host a recording or a seed names is crawled: IDN hosts in both spellings (case 24), top-level
domains that are not countries (``.eu``, ``.uk``), a port, a single label.

The hosts are mapped to the loopback replay server as the replay does for every real host
(:mod:`rasd.replay.handler`), so the crawl sees the original URLs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rasd.core.archive import read_archive
from rasd.core.seeds import load_outlets
from rasd.replay.server import ReplayServer, ReplaySite, Resource, load_recording, replay_outlets, replay_slug
from tests.loopback import ROOT, crawl_env, real_pages, write_seeds

pytestmark = pytest.mark.integration

CASE24 = Path(__file__).resolve().parents[1] / "fixtures" / "cases" / "case-24-scrapy-idn-arabic-host-unicode-vs-punycode"
PUNY = "xn----ymcabacyt3a6qcj.xn--wgbh1c"
UNICODE = "اخبار-المثال.مصر"
HOSTS = ["https://news.example.eu/ar/1", "https://www.paper.co.uk/ar/2", f"https://{UNICODE}/ar/3",
         "http://desk.example:8080/ar/4", "http://intranet/ar/5"]


def _recording(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    pages = real_pages()
    rows = ["file\turl\toutlet\tkind\tlanguage\tcharset"]
    for i, url in enumerate(HOSTS):
        (directory / f"p{i}.html").write_bytes(pages[i])
        rows.append(f"p{i}.html\t{url}\tOutlet {i}\tarticle\tar\tutf-8")
    (directory / "MANIFEST.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return directory


def test_replay_outlets_for_any_host(tmp_path):
    _, pages, unused = load_recording(_recording(tmp_path))
    assert unused == []
    outlets = replay_outlets(pages, {})
    assert sorted(outlets) == sorted(["news_example_eu", "paper_co_uk", replay_slug(UNICODE),
                                      "desk_example", "intranet"])
    # only an assigned ISO 3166-1 code is a country: .eu and .uk are not (GB is)
    assert {o.country for o in outlets.values()} == {"ZZ"}
    assert outlets[replay_slug(UNICODE)].domains == [PUNY]
    assert replay_slug(UNICODE) == "xn_ymcabacyt3a6qcj_xn_wgbh1c"
    assert outlets["desk_example"].owns("http://desk.example:8080/ar/4")
    assert not outlets["desk_example"].owns("http://desk.example:8081/ar/4")


def test_crawl_replay_of_any_host_archives_every_page(tmp_path):
    rec = _recording(tmp_path / "rec")
    proc = subprocess.run([sys.executable, "-m", "rasd.cli.main", "crawl", "--replay", str(rec),
                           "--data-dir", str(tmp_path / "data"), "--json"],
                          capture_output=True, text=True, timeout=240, cwd=ROOT, env=crawl_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)
    assert sum(s["outcomes"].get("archived", 0) for s in summary.values()) == len(HOSTS)
    hosts = {r["canonical_url"].split("/")[2] for r in read_archive(tmp_path / "data" / "archive")}
    assert hosts == {"news.example.eu", "paper.co.uk", PUNY, "desk.example:8080", "intranet"}


def test_case_24_unicode_and_punycode_links_of_an_idn_outlet(tmp_path):
    """The seed names the Unicode domain; the feed links once with the Unicode host and raw
    Arabic path, once with the punycode host and percent-encoded path: both are archived,
    on the punycode host, none is off_domain."""
    pages = real_pages()
    site = ReplaySite()
    feed = (CASE24 / "feed.xml").read_bytes()
    site.put(f"https://{UNICODE}/rss.xml", Resource(feed, "application/rss+xml; charset=utf-8"))
    site.put(f"https://{UNICODE}/robots.txt", Resource(b"User-agent: *\nAllow: /\n", "text/plain"))
    site.put(f"https://{UNICODE}/سياسة/2024/03/12/الموازنة", Resource(pages[0], "text/html; charset=utf-8"))
    site.put(f"https://{PUNY}/%D8%A7%D9%82%D8%AA%D8%B5%D8%A7%D8%AF/2024/03/12/%D9%85%D8%AD%D8%B7%D8%A9",
             Resource(pages[1], "text/html; charset=utf-8"))
    seeds = write_seeds(tmp_path / "seeds", {"akhbar": {
        "name": "اخبار المثال", "country": "EG", "homepage": f"https://{UNICODE}/",
        "domains": [UNICODE], "feeds": [f"https://{UNICODE}/rss.xml"],
        "politeness": {"download_delay": 0, "concurrency": 2}}})
    assert load_outlets(seeds)["akhbar"].domains == [PUNY]
    with ReplayServer(site) as server:
        outlets_file = tmp_path / "outlets.json"
        outlets_file.write_text(json.dumps({"akhbar": load_outlets(seeds)["akhbar"].model_dump(mode="json")}),
                                encoding="utf-8")
        proc = subprocess.run([sys.executable, "-m", "rasd.scheduler.child", "akhbar", "--data-dir",
                               str(tmp_path / "data"), "--outlets-file", str(outlets_file),
                               "--replay-url", server.base_url],
                              capture_output=True, text=True, timeout=240, cwd=ROOT, env=crawl_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["links"].get("off_domain", 0) == 0 and summary["links"]["listed"] == 2
    assert summary["outcomes"] == {"archived": 2}
    records = list(read_archive(tmp_path / "data" / "archive"))
    assert {r["canonical_url"].split("/")[2] for r in records} == {PUNY}
    assert {r["url"].split("/")[2] for r in records} == {PUNY}  # the archive keeps the punycode form


def test_an_idn_host_spelt_both_ways_in_one_recording_loses_no_page(tmp_path):
    """Manifest rows for one IDN host, one in Unicode and one in punycode: one feed lists both
    pages and both are archived (before: the second spelling's feed replaced the first's, and
    one article was silently missing)."""
    rec = tmp_path / "rec"
    rec.mkdir()
    pages = real_pages()
    urls = [f"https://{UNICODE}/ar/خبر-1", f"https://{PUNY}/ar/3"]
    rows = ["file\turl\toutlet\tkind\tlanguage\tcharset"]
    for i, url in enumerate(urls):
        (rec / f"p{i}.html").write_bytes(pages[i])
        rows.append(f"p{i}.html\t{url}\tIDN\tarticle\tar\tutf-8")
    (rec / "MANIFEST.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "rasd.cli.main", "crawl", "--replay", str(rec),
                           "--data-dir", str(tmp_path / "data"), "--json"],
                          capture_output=True, text=True, timeout=240, cwd=ROOT, env=crawl_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert list(summary) == [replay_slug(UNICODE)]
    assert summary[replay_slug(UNICODE)]["outcomes"] == {"archived": 2}
