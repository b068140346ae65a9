"""Small replay recordings for the web tests, written with today's dates so that the alert
preview's "last 7/30 days" and the story grouping see them: whole article pages (``lang="ar"``,
``article:published_time``) on outlets of ``seeds/`` (so names come from the seeds), in the
layout ``rasd crawl --replay DIR`` reads (``MANIFEST.tsv``).

* round 1 — story S1 (the seed story) at Euronews Arabic and, 3 hours later, a reworded copy
  at Sky News Arabia; an unrelated Euronews article;
* round 2 — round 1 plus story S2 (also about the coalition) at Sky News Arabia and its copy
  at Euronews Arabic;
* the XSS recording — one Al Jazeera page whose title and body *text* carry script and
  markup (entity-escaped in the HTML, so extraction keeps them as text), and one with real
  ``<script>`` elements and event-handler attributes in its body.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

STORIES = Path(__file__).resolve().parents[1] / "fixtures" / "stories"
S1_QUERY = "مسئولون AND التحالف"
XSS_TITLE = '<script>window.__rasdXss=1</script><img src=x onerror="window.__rasdXss=2">مسؤولون يحذرون من هجوم'
XSS_MARKUP = '<b onmouseover="window.__rasdXss=3">نص عريض</b> <a href="javascript:window.__rasdXss=4">رابط</a>'


def _lines(name: str) -> tuple[str, list[str]]:
    """``(title, paragraphs)`` of a fixture text: a plain file (title line, then text) or an
    ANT corpus document (``<TITLE>`` and ``<TEXT>`` elements)."""
    raw = (STORIES / name).read_text(encoding="utf-8")
    if raw.lstrip().startswith("<DOC>"):
        title = re.search(r"<TITLE>(.*?)</TITLE>", raw, re.S).group(1).strip()
        raw = title + "\n" + re.search(r"<TEXT>(.*?)</TEXT>", raw, re.S).group(1)
    lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
    return lines[0], lines[1:]


def page(title: str, paragraphs: list[str], published: datetime, site: str, *, raw_body: str = "") -> str:
    """A whole news page; ``title`` and ``paragraphs`` are text (escaped here)."""
    e = html.escape
    paras = "\n".join(f"<p>{e(p)}</p>" for p in paragraphs)
    iso = published.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return f"""<!DOCTYPE html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8">
<title>{e(title)} | {e(site)}</title>
<meta property="og:title" content="{e(title, quote=True)}">
<meta property="article:published_time" content="{iso}">
</head><body>
<header><nav><a href="/">{e(site)}</a> <a href="/news">أخبار</a></nav></header>
<main><article><h1>{e(title)}</h1>
<p class="byline">بقلم: فريق التحرير</p><time datetime="{iso}">{iso[:10]}</time>
{paras}
{raw_body}
</article></main>
<footer>© {published.year} {e(site)}</footer>
</body></html>
"""


def _write(directory: Path, pages: list[tuple[str, str, str, str]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rows = ["file\turl\toutlet\tkind\tlanguage\tcharset\tnotes\tsource"]
    for i, (url, outlet, body, note) in enumerate(pages):
        name = f"page-{i:02d}.html"
        (directory / name).write_text(body, encoding="utf-8")
        rows.append(f"{name}\t{url}\t{outlet}\tarticle\tar\tutf-8\t{note}\ttests/web/recording.py")
    (directory / "MANIFEST.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return directory


def stories(now: datetime) -> dict[str, dict]:
    """The articles of both rounds: ``{key: {url, outlet, site, title, paragraphs, published}}``."""
    s1_title, s1 = _lines("seed-article.txt")
    s2_title, s2 = _lines("antcorpus_JA-internationalNews-1-20140526.txt")
    s2 = s2 + ["وقال مسؤولون في بغداد إن قوات التحالف ستبقى حتى نهاية المحادثات المقبلة."]
    other_title, other = _lines("antcorpus_JA-economy-1-20170302.txt")
    s1_copy = list(s1)
    s1_copy[1] = "وأضاف المتحدث أن جولة المحادثات المقبلة ستعقد في واشنطن خلال أسابيع."
    s2_copy = s2[:-1] + [s2[-1].replace("المقبلة", "القادمة"), "(أ ف ب)"]
    return {
        "s1": {"url": f"https://arabic.euronews.com/{now:%Y/%m/%d}/iraq-coalition-talks", "outlet": "Euronews Arabic",
               "site": "يورونيوز", "title": s1_title, "paragraphs": s1, "published": now - timedelta(days=2)},
        "s1_copy": {"url": "https://www.skynewsarabia.com/middle-east/1800001-iraq-coalition", "outlet": "Sky News Arabia",
                    "site": "سكاي نيوز عربية", "title": "العراق يطالب بمغادرة قوات التحالف",
                    "paragraphs": s1_copy, "published": now - timedelta(days=2) + timedelta(hours=3)},
        "other": {"url": f"https://arabic.euronews.com/{now:%Y/%m/%d}/economy-bank", "outlet": "Euronews Arabic",
                  "site": "يورونيوز", "title": other_title, "paragraphs": other, "published": now - timedelta(days=1)},
        "s2": {"url": "https://www.skynewsarabia.com/middle-east/1800002-benghazi", "outlet": "Sky News Arabia",
               "site": "سكاي نيوز عربية", "title": s2_title, "paragraphs": s2, "published": now - timedelta(hours=1)},
        "s2_copy": {"url": f"https://arabic.euronews.com/{now:%Y/%m/%d}/benghazi-journalist", "outlet": "Euronews Arabic",
                    "site": "يورونيوز", "title": "ليبيا: " + s2_title, "paragraphs": s2_copy,
                    "published": now - timedelta(minutes=30)},
    }


def write_round(directory: Path, now: datetime, round_: int) -> Path:
    """Round 1 or 2 (see the module docstring) in ``directory``."""
    arts = stories(now)
    keys = ["s1", "s1_copy", "other"] + (["s2", "s2_copy"] if round_ >= 2 else [])
    return _write(directory, [(arts[k]["url"], arts[k]["outlet"],
                               page(arts[k]["title"], arts[k]["paragraphs"], arts[k]["published"], arts[k]["site"]),
                               f"web test round {round_}: {k}") for k in keys])


def write_xss(directory: Path, now: datetime) -> Path:
    """The XSS recording (see the module docstring)."""
    _, s1 = _lines("seed-article.txt")
    text = [XSS_TITLE + " — " + s1[0], f"{XSS_MARKUP} " + s1[1], *s1[2:5]]
    live = ('<script>window.__rasdXss=5</script><p onclick="window.__rasdXss=6">'
            + html.escape(s1[5] if len(s1) > 5 else s1[-1]) + "</p>")
    return _write(directory, [
        ("https://www.aljazeera.net/news/2026/xss-title-and-body", "Al Jazeera",
         page(XSS_TITLE, text, now - timedelta(hours=2), "الجزيرة نت", raw_body=live), "script and markup as text"),
    ])
