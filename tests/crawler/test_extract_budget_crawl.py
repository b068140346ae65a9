"""A crawl in which one outlet serves pages that make trafilatura take minutes, while four other
outlets serve real recorded pages: the heavy pages end ``skipped/too_complex``, the others are
archived meanwhile, and the crawl ends in bounded time.

``heavy.example`` serves a generated 2 MiB page of short paragraphs (~140,000 elements, over the
element budget: over 420 s in trafilatura) and a 0.35 MiB one of the same kind (~24,500
elements, under the budget: about 40 s in trafilatura, so it meets the timeout, 5 s here).  The
crawl runs as users run it (``rasd crawl --replay``, a child process, the real loopback replay
server); this test watches the archive and the crawl log while it runs to see *when* things happen.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rasd.core.urls import canonicalize_url
from tests.pipelines._pathological import short_blocks

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "corpus"
NORMAL = ("pages/jawharafm.net/", "pages/youm7.com/", "pages/alyaum.com/", "pages/assabah/")
HEAVY = {"https://heavy.example/news/huge": 2 * 1024 * 1024, "https://heavy.example/news/slow": 350 * 1024}
TIMEOUT = 5.0
MARGIN = 2.0  # seconds by which the other pages must beat the slow page's end


def _recording(tmp: Path) -> tuple[Path, set[str]]:
    """A replay directory: the real pages of four outlets plus heavy.example's two pages."""
    rec = tmp / "recording"
    with (FIXTURES / "MANIFEST.tsv").open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        fields = reader.fieldnames
        rows = [r for r in reader if r["kind"] == "article" and r["file"].startswith(NORMAL)]
    for row in rows:
        (rec / row["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / row["file"], rec / row["file"])
    (rec / "heavy").mkdir(parents=True)
    for url, size in HEAVY.items():
        name = f"heavy/{url.rsplit('/', 1)[1]}.html"
        (rec / name).write_text(short_blocks(size), encoding="utf-8")
        rows.append(dict.fromkeys(fields, "") | {"file": name, "url": url, "outlet": "Heavy", "kind": "article",
                                                 "language": "ar", "charset": "utf-8"})
    with (rec / "MANIFEST.tsv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fields, delimiter="\t", quoting=csv.QUOTE_NONE, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rec, {canonicalize_url(r["url"]) for r in rows if r["url"] not in HEAVY}


def _archived(archive: Path) -> set[str]:
    urls = set()
    for path in archive.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            if line.endswith("\n"):
                urls.add(canonicalize_url(json.loads(line)["url"]))
    return urls


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("budget-crawl")
    rec, normal = _recording(tmp)
    data = tmp / "data"
    log, archive = data / "logs" / "crawl.log", data / "archive"
    env = dict(os.environ, RASD_CRAWL__EXTRACT_TIMEOUT_SECONDS=str(TIMEOUT), RASD_LOG_LEVEL="INFO")
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "rasd.cli.main", "crawl", "--replay", str(rec), "--data-dir",
                             str(data), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen: dict[str, float] = {}  # URL → seconds after start when its outcome became visible
    try:
        while proc.poll() is None and time.monotonic() - start < 120:
            now = time.monotonic() - start
            for url in _archived(archive) if archive.is_dir() else ():
                seen.setdefault(url, now)
            text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
            for url in HEAVY:
                if f"skipped/too_complex: {url}" in text:
                    seen.setdefault(url, now)
            time.sleep(0.05)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    total = time.monotonic() - start
    assert proc.returncode == 0, err[-3000:]
    for url in _archived(archive):
        seen.setdefault(url, total)
    return json.loads(out), seen, normal, log.read_text(encoding="utf-8"), total


def test_heavy_pages_are_skipped_too_complex_with_the_reason(crawl):
    summary, _, _, log, _ = crawl
    assert summary["heavy_example"]["outcomes"] == {"skipped/too_complex": 2}
    assert re.search(r"skipped/too_complex: https://heavy.example/news/huge: \d{6} elements, over the budget of 30000", log)
    assert f"skipped/too_complex: https://heavy.example/news/slow: extraction ran past {TIMEOUT:g} s" in log


def test_other_outlets_are_archived_while_the_heavy_page_is_worked_on(crawl):
    summary, seen, normal, _, total = crawl
    others = {slug: s["outcomes"] for slug, s in summary.items() if slug != "heavy_example"}
    assert len(others) == 4 and all(o == {"archived": o.get("archived", 0)} for o in others.values())
    assert sum(o["archived"] for o in others.values()) == len(normal) == 10
    first_normal, last_normal = min(seen[u] for u in normal), max(seen[u] for u in normal)
    huge, slow = seen["https://heavy.example/news/huge"], seen["https://heavy.example/news/slow"]
    # the page over the element budget ends within seconds, long before the timeout would;
    # every other page is in the archive well before the slow page's budget runs out
    assert huge < first_normal + MARGIN and huge < slow - MARGIN
    assert last_normal < slow - MARGIN, (last_normal, slow)
    print(f"\nfirst archived {first_normal:.2f} s, last {last_normal:.2f} s, huge page "
          f"skipped {huge:.2f} s, slow page {slow:.2f} s, crawl {total:.2f} s")


def test_the_crawl_time_stays_bounded(crawl):
    *_, total = crawl
    assert total < TIMEOUT + 20  # without the budget: over ten minutes in trafilatura
