"""Extraction stage: from ``Article.html`` to text and metadata, parsing the page once.

:func:`extract_article` parses the HTML with trafilatura's lenient loader (lxml underneath),
reads metadata from that tree itself (meta tags, JSON-LD, headings, bylines, date evidence)
and hands the same tree to ``trafilatura.bare_extraction`` for the main text, with
``include_comments=False`` passed explicitly (trafilatura keeps comments by default; case 01)
and without trafilatura's own metadata pass: its author search alone costs about half an
extraction and it would run htmldate on every page.  Date evidence is not parsed here but
stored in ``Article.date_candidates`` for :mod:`rasd.pipelines.dates`; htmldate runs only when the
page has no cheaper date and the feed gave none.

Before parsing, the folding table's word breaks run on the page (:func:`rasd.core.arabic.apply_breaks`):
trafilatura deletes a ZWNJ and would glue the two words it separates (الأمم‌المتحدة, case 27).

Own rules where trafilatura goes wrong on Arabic pages: titles lose site-name affixes and never
come from a language menu (case 02); bylines lose "بقلم:"/"كتب"/… (case 04).

The budget.  trafilatura's time grows quadratically with the number of block elements on some
pages (0.25 / 0.5 / 1 MiB of short paragraphs in a menu: 21 / 82 / 375 s; 2 MiB: over 420 s):
it always runs readability and, when its own text is short or "unclean", jusText, and both scan
neighbouring blocks once per block (jusText's ``_get_neighbour`` walks the run of short
paragraphs around every short paragraph; readability's ``sanitize`` measures every sibling of
every empty block).  Bytes alone do not make a page slow (a 9.5 MiB page of one paragraph: 1.6 s;
a real article repeated to 9.5 MiB, 67,000 elements: 4 s); elements do.  So
:func:`extract_article` takes ``max_elements`` and counts the parsed tree's elements before
trafilatura sees it (:data:`MAX_PAGE_ELEMENTS` = 30,000: the recorded news pages have 4 to
2,223, Lighthouse calls a page over 1,400 "excessive"; a flat page at the budget extracts in
about 1.5 s, and a quadratic one under it is stopped by the timeout).  The Scrapy stage runs
the call in a worker process (:mod:`rasd.pipelines.workers`) with a timeout and a memory limit, so
the reactor never waits for a page.  Generators for such pages: ``tests/pipelines/_pathological.py``.

Ideas from: trafilatura's metadata module (meta/JSON-LD field lists, the h1-vs-title check),
newspaper/goose title splitting on separators, and htmldate's preference for markup over text.
"""

from __future__ import annotations

import json
import re
import resource
from contextlib import suppress
from dataclasses import fields
from urllib.parse import urljoin, urlsplit

from lxml import etree

from rasd.pipelines import dates
from rasd.pipelines.base import StagePipeline
from rasd.pipelines.clean import clean_author
from rasd.pipelines.workers import PoolUnavailable, TaskTimeout, WorkerDied, WorkerPool
from rasd.core.arabic import apply_breaks
from rasd.core.article import Article
from rasd.core.errors import RasdError
from rasd.core.seeds import ExtractionHints

#: Fewer characters than this from trafilatura → try the fallbacks; the wrapper's default
#: for ``skipped/too_little_text``.
MIN_TEXT_CHARS = 200
#: Element budget of a page (``crawl.max_page_elements``): more → ``skipped/too_complex``
#: before trafilatura runs (see the module docstring for the choice).
MAX_PAGE_ELEMENTS = 30_000
#: Seconds one page's extraction may take in a worker (``crawl.extract_timeout_seconds``).
EXTRACT_TIMEOUT_SECONDS = 20.0
#: Worker processes (``crawl.extract_workers``; 0: inline, for debugging).
EXTRACT_WORKERS = 2
#: Address-space limit of a worker in MiB (``crawl.extract_memory_mb``; 0: none).
EXTRACT_MEMORY_MB = 1024

_NO_HINTS = ExtractionHints()
_WS = re.compile(r"[\s\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")
_PUNCT = re.compile(r"[^\w\s]+")
#: Title separators between a headline and a site name (":" is not one: Arabic headlines use it).
_TITLE_SEP = re.compile(r"\s+(?:[|\-–—•·»«]|::)\s+")
#: Containers whose headings, bylines and dates belong to navigation, not to the article.
_NAVISH = re.compile(r"lang|menu|nav|sidebar|widget|related|footer|comment|breadcrumb|logo|share|ticker", re.I)
_DATE_NAVISH = re.compile(
    r"header|top|today|current|menu|nav|sidebar|widget|related|most|popular|footer|comment|ticker|tab", re.I)
_DATE_TAGS = ("nav", "aside", "script", "style")  # an article's own <footer> often holds its date
_ARTICLE_TYPES = {"newsarticle", "article", "reportagenews", "blogposting", "analysisnewsarticle",
                  "opinionnewsarticle", "backgroundnewsarticle", "liveblogposting", "report", "webpage"}
_DATE_META_KEYS = (
    "article:published_time", "og:article:published_time", "og:published_time", "article.published",
    "datepublished", "pubdate", "publishdate", "publish-date", "publish_date", "publication_date",
    "dc.date.issued", "dcterms.issued", "dc.date", "dcterms.created", "sailthru.date", "parsely-pub-date",
    "nastooh:publishdate", "date", "datecreated",
)
_PUBLISHED_PREFIX = re.compile(
    r"(?:^|\s)(?:نشر|تم نشره|تم النشر|تاريخ النشر|تاريخ انتشار|published|posted)(?=[\s:：])[^\d]{0,30}\d",
    re.I,
)
_IMAGE_KEYS = ("og:image", "og:image:secure_url", "og:image:url", "twitter:image", "twitter:image:src", "thumbnailurl")
_ARTICLE_HEADINGS = etree.XPath("//article//h1|//article//h2|//main//h2|//*[@itemprop='headline']|//h2|//h3")
_BYLINE_MARK = re.compile(r"author|byline|writer|kateb", re.I)
_DATE_MARK = re.compile(r"date|time|publish|created|posted|(?:^|[\s_])dat(?:[\s_]|$)", re.I)


class _ArticleRegion:
    """Bylines and date elements of the article's container, found in one pass on first use.

    Scanning the whole page (XPath per kind, or a Python loop) cost 4–10 % of an extraction on
    large pages.  The container of the main ``<h1>`` (nearest ``<article>``/``<main>``, at most
    four levels up) is small, holds byline and date on nearly every news page and keeps out
    sidebars whose dates belong to other articles.  No usable ``<h1>``: the whole page."""

    def __init__(self, tree):
        self.tree, self._found = tree, None

    def _root(self):
        node = next((h for h in self.tree.iter("h1") if not _navish(h)), None)
        for _ in range(4 if node is not None else 0):
            if node.getparent() is None or node.getparent().tag in ("body", "html"):
                break
            node = node.getparent()
            if node.tag in ("article", "main"):
                break
        return self.tree if node is None else node

    def found(self, kind: str) -> list:
        """Elements of ``kind`` in document order: ``"byline"``, ``"marked_date"`` (``<time>``,
        ``itemprop=datePublished``) or ``"date"`` (date-like class/id)."""
        if self._found is None:
            self._found = []
            for el in self._root().iter(etree.Element):
                a = el.attrib
                marks = f"{a.get('class', '')} {a.get('id', '')}"
                if el.tag == "time" or a.get("itemprop") == "datePublished":
                    self._found.append(("marked_date", el))
                if a.get("rel") == "author" or a.get("itemprop") == "author" or _BYLINE_MARK.search(marks):
                    self._found.append(("byline", el))
                elif _DATE_MARK.search(marks):
                    self._found.append(("date", el))
        return [el for k, el in self._found if k == kind]


class ExtractError(RasdError):
    """The HTML could not be parsed into a document tree."""


class TooComplex(ExtractError):
    """The page is over the element budget (``max_elements`` of :func:`extract_article`)."""


def _clean(text: str | None) -> str:
    return _WS.sub(" ", text or "").strip()


def _key(text: str) -> str:
    """Comparison key: folded letters, no punctuation or quotes, single spaces."""
    return " ".join(_PUNCT.sub("", dates.fold(text)).split())


def _navish(el, pattern=_NAVISH, tags=("nav", "aside", "footer", "script", "style")) -> bool:
    """True when ``el`` or a container (below ``<body>``) is navigation-like by tag or class/id."""
    node = el
    while node is not None and node.tag not in ("body", "html"):
        if node.tag in tags or pattern.search(f"{node.get('class', '')} {node.get('id', '')}"):
            return True
        node = node.getparent()
    return False


def _read_meta(tree) -> dict[str, list[str]]:
    """``<meta>`` values by lower-cased ``property``/``name``/``itemprop``/``http-equiv``."""
    out: dict[str, list[str]] = {}
    for m in tree.iter("meta"):
        key = m.get("property") or m.get("name") or m.get("itemprop") or m.get("http-equiv")
        value = _clean(m.get("content"))
        if key and value:
            out.setdefault(key.strip().lower(), []).append(value)
    return out


def _read_jsonld(tree) -> list[dict]:
    """Article-like JSON-LD objects (``@graph`` and lists flattened); broken JSON is skipped."""
    found: list[dict] = []
    stack: list = []
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        with suppress(ValueError):
            stack.append(json.loads(script.text or "", strict=False))
    while stack:
        obj = stack.pop()
        if isinstance(obj, list):
            stack.extend(reversed(obj))
        elif isinstance(obj, dict):
            if "@graph" in obj:
                stack.append(obj["@graph"])
            types = obj.get("@type")
            types = types if isinstance(types, list) else [types]
            if any(isinstance(t, str) and t.lower() in _ARTICLE_TYPES for t in types):
                found.append(obj)
    # real articles before WebPage wrappers
    return sorted(found, key=lambda o: str(o.get("@type")).lower() == "webpage")


def _ld(objs: list[dict], *keys: str) -> list:
    return [o[k] for o in objs for k in keys if o.get(k)]


def _names(value) -> list[str]:
    """Names in a JSON-LD author/publisher value (str, object or list of them)."""
    items = value if isinstance(value, list) else [value]
    return [_clean(v if isinstance(v, str) else v.get("name")) for v in items
            if isinstance(v, str) or (isinstance(v, dict) and isinstance(v.get("name"), str))]


def _first(meta: dict[str, list[str]], *keys: str) -> str | None:
    for k in keys:
        for v in meta.get(k, ()):
            return v
    return None


def _site_names(meta, objs, hints: ExtractionHints) -> list[str]:
    """Names the site calls itself, most explicit first (og:site_name, JSON-LD publisher,
    application-name, the outlet's title suffixes)."""
    names = list(meta.get("og:site_name", ())) + [n for p in _ld(objs, "publisher") for n in _names(p)]
    names += meta.get("application-name", []) + [s.strip(" -|–—") for s in hints.title_suffixes]
    return [n for n in names if n and "://" not in n]


def _is_site_part(part: str, sites: list[str], host: str) -> bool:
    k = _key(part)
    if not k:
        return True
    if "." in part and " " not in part.strip():  # "CNNArabic.com"
        return True
    return any(k == _key(s) or (len(k) >= 4 and (k in _key(s) or _key(s) in k)) for s in sites if _key(s)) or (
        k.replace(" ", "") in host.replace(".", "")
    )


def choose_title(meta, objs, tree, hints: ExtractionHints, sites: list[str],
                 host: str) -> tuple[str | None, list[str]]:
    """Headline of the page, and the affixes cut from the declared title (site names).

    The first of og:title, JSON-LD headline, twitter:title, dc.title and ``<title>`` is the
    declared title.  An on-page ``<h1>`` equal to it, to it without a site-name prefix or
    suffix, or starting with its first segment, wins (it keeps the quotes outlets drop from
    meta titles).  Otherwise the outlet's ``title_suffixes`` and a first/last segment naming the
    site (og:site_name, the JSON-LD publisher, a domain, the host) are cut off.  Without any
    declared title: the first ``<h1>``, then the article's own ``<h2>``; headings inside language
    menus and navigation never count (case 02).
    """
    titles = list(tree.iter("title"))
    headline = next((_clean(h) for h in _ld(objs, "headline", "headLine") if isinstance(h, str)), None)
    raw = _first(meta, "og:title") or headline or _first(meta, "twitter:title", "dc.title") or (
        _clean(titles[0].text_content()) if titles else None)
    h1s = [t for t in (_clean(h.text_content()) for h in tree.iter("h1") if not _navish(h)) if t]
    if not raw:
        if h1s:
            return h1s[0], []
        heading = next((t for h in _ARTICLE_HEADINGS(tree) if not _navish(h) and (t := _clean(h.text_content()))), None)
        return heading, []
    for suffix in hints.title_suffixes:
        if suffix.strip() and raw.endswith(suffix.strip()):
            raw = raw[: -len(suffix.strip())].rstrip(" -|–—")
    parts = _TITLE_SEP.split(raw)
    tk, first = _key(raw), _key(parts[0])
    title = None
    for h in h1s:
        hk = _key(h)
        if hk == tk or (len(hk) >= 0.5 * len(tk) and (tk.startswith(hk) or tk.endswith(hk))) or (
            len(first.split()) >= 2 and hk.startswith(first)
        ):
            title = h
            break
    if title is None:
        while len(parts) > 1 and _is_site_part(parts[-1], sites, host):
            parts.pop()
        while len(parts) > 1 and _is_site_part(parts[0], sites, host):
            parts.pop(0)
        title = " - ".join(parts)
    kept = _key(title)
    return title, [p for p in _TITLE_SEP.split(raw) if _key(p) and _key(p) not in kept]


def _author(meta, objs, region: _ArticleRegion, hints, sites) -> str | None:
    """First usable name: JSON-LD Person authors, author ``<meta>``s, then visible bylines."""
    def raws():
        for a in _ld(objs, "author"):
            for item in a if isinstance(a, list) else [a]:
                if not (isinstance(item, dict) and str(item.get("@type", "Person")).lower() != "person"):
                    yield from _names(item)
        for k in ("author", "article:author", "dc.creator", "byl"):
            yield from meta.get(k, ())
        for el in region.found("byline"):
            if el.tag not in ("meta", "link", "script", "style") and not _navish(el):
                yield el.text_content()

    for raw in raws():
        if raw and len(raw) < 120 and (name := clean_author(raw, hints, sites)):
            return name
    return None


def _declared_language(tree, meta) -> str | None:
    for raw in (tree.get("lang"), _first(meta, "og:locale", "content-language", "dc.language", "language", "inlanguage")):
        code = re.split(r"[-_]", (raw or "").strip().lower())[0]
        if 2 <= len(code) <= 3 and code.isalpha() and code.isascii():
            return code
    return None


def _absolute(base: str, value) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("url") or value.get("@id")
    if not isinstance(value, str) or not value.strip():
        return None
    url = urljoin(base, value.strip())
    host = urlsplit(url).hostname or ""
    if not url.startswith(("http://", "https://")) or re.fullmatch(r"[\d.]+|\[[0-9a-f:]+\]", host):
        return None  # e.g. og:url pointing at a raw IP address
    return url


def _text_date_lines(text: str):
    """Short lines at the head and tail of the extracted text that may be its date line
    ("ثقافة 2017/02/25 13:39", "نشر في 12 مارس 2023"): trafilatura already left out sidebars,
    scripts and menus, whose dates belong to other pages (case 05)."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    for line in lines[:4] + lines[-2:]:
        if any(c.isdigit() for c in line) and (
                len(line) <= 60 or (len(line) <= 120 and _PUBLISHED_PREFIX.search(dates.fold(line)))):
            yield line


def date_candidates(meta, objs, tree, article: Article, text: str = "",
                    region: _ArticleRegion | None = None) -> list[tuple[str, str]]:
    """Raw date evidence as ``(source, text)`` in preference order (see :mod:`rasd.pipelines.dates`).

    JSON-LD ``datePublished``; publication-date ``<meta>``s; ``itemprop=datePublished`` and
    ``<time datetime>`` outside navigation.  When the feed gave a date nothing else is read.
    Only when these give no plausible date: the date line of the extracted ``text`` (a short
    line, or one with a "published" word: "نشر في", "تاريخ النشر", …), then the short texts of
    date-classed elements outside headers and sidebars (the date in a site header is today's),
    and last htmldate.
    """
    out = [("jsonld", v) for v in _ld(objs, "datePublished", "dateCreated") if isinstance(v, str)]
    out += [("meta", v) for k in _DATE_META_KEYS for v in meta.get(k, ())]
    fetched = article.fetched_at
    if article.feed_published_at is not None or dates.has_plausible_date(out, fetched):
        return out
    region = region or _ArticleRegion(tree)
    for el in region.found("marked_date"):
        value = el.get("content") or el.get("datetime") or el.text_content()
        if value and not _navish(el, _DATE_NAVISH, _DATE_TAGS):
            out.append(("meta", _clean(value)))
    out += [("page_text", line) for line in _text_date_lines(text)]
    if dates.has_plausible_date(out, fetched):
        return out
    for el in region.found("date"):
        if el.tag not in ("script", "style", "meta", "input") and not _navish(el, _DATE_NAVISH, _DATE_TAGS):
            value = _clean(el.text_content())
            if value and len(value) < 200 and any(c.isdigit() for c in value):
                out.append(("page_text", value))
    if not dates.has_plausible_date(out, fetched):
        found = dates.htmldate_candidate(tree, article.url, fetched)
        if found:
            out.append(found)
    return out


def count_elements(tree) -> int:
    """Elements in the parsed page (comments and processing instructions not counted)."""
    return sum(1 for _ in tree.iter(etree.Element))


def extract_article(article: Article, hints: ExtractionHints | None = None, *,
                    min_chars: int = MIN_TEXT_CHARS, max_elements: int | None = None) -> Article:
    """Fill ``article``'s text and metadata from ``article.html``; returns the same object.

    Sets ``title``, ``text`` (paragraphs separated by ``\\n``), ``description``, ``author``,
    ``site_name``, ``image`` and ``canonical_url`` (absolute; the page's canonical link or
    og:url, else ``article.url``), ``extractor`` (``"trafilatura"``, or ``"jsonld"`` for a
    JSON-LD ``articleBody`` / ``"baseline"`` for trafilatura's baseline when trafilatura gives
    fewer than ``min_chars`` characters), ``declared_language`` (when still None: ``<html lang>``,
    og:locale, Content-Language; ISO 639 primary subtag) and ``date_candidates``.

    ``max_elements``: the element budget, checked on the parsed tree before trafilatura sees it
    (``None``: no budget); the module docstring says why elements are what makes trafilatura
    slow.

    Raises:
        TooComplex: the page has more than ``max_elements`` elements.
        ExtractError: the HTML cannot be parsed at all (empty or not HTML).
    """
    hints = hints or _NO_HINTS
    import trafilatura  # here, not at the top: a crawl process with workers never extracts

    if isinstance(article.html, str):
        # a ZWNJ between two words becomes a space before trafilatura deletes it and glues the
        # words (case 27; the folding table's `breaks`, rasd.core.arabic.apply_breaks)
        article.html = apply_breaks(article.html)
    tree = trafilatura.load_html(article.html) if article.html and article.html.strip() else None
    if tree is None:
        raise ExtractError(f"{article.url}: not parseable as HTML")
    if max_elements is not None and (n := count_elements(tree)) > max_elements:
        raise TooComplex(f"{article.url}: {n} elements, over the budget of {max_elements}")
    meta = _read_meta(tree)
    objs = _read_jsonld(tree)
    base = article.url
    host = (urlsplit(base).hostname or "").lower().removeprefix("www.")
    sites = _site_names(meta, objs, hints)

    doc = trafilatura.bare_extraction(tree, url=article.url, include_comments=False, with_metadata=False)
    text, extractor = (doc.text or "") if doc is not None else "", "trafilatura"
    if len(text) < min_chars:
        body = max((b for b in _ld(objs, "articleBody") if isinstance(b, str)), key=len, default="")
        if len(body.strip()) > len(text):
            text, extractor = body.strip(), "jsonld"
        else:
            _, base_text, _ = trafilatura.baseline(tree)
            if len(base_text) > len(text):
                text, extractor = base_text, "baseline"

    article.text, article.extractor = text, extractor
    article.title, affixes = choose_title(meta, objs, tree, hints, sites, host)
    first_line, _, rest = text.partition("\n")
    if article.title and first_line.strip() and _key(first_line) == _key(article.title):
        article.text = rest  # the headline repeated as the first line
    article.description = _first(meta, "og:description", "description", "twitter:description") or next(
        (_clean(d) for d in _ld(objs, "description") if isinstance(d, str)), None)
    handles = [v.lstrip("@") for v in meta.get("twitter:site", ()) if "://" not in v]
    article.site_name = next(iter([*sites, *affixes, *handles]), None)
    region = _ArticleRegion(tree)
    article.author = _author(meta, objs, region, hints, [*sites, *affixes, *handles, host.split(".")[0]])
    images = [v for k in _IMAGE_KEYS for v in meta.get(k, ())] + _ld(objs, "image", "thumbnailUrl")
    article.image = next((u for v in images if (u := _absolute(base, v))), None)
    canonical = next((link.get("href") for link in tree.iter("link") if (link.get("rel") or "").lower() == "canonical"), None)
    article.canonical_url = _absolute(base, canonical) or _absolute(base, _first(meta, "og:url")) or base
    if article.declared_language is None:
        article.declared_language = _declared_language(tree, meta)
    article.date_candidates = date_candidates(meta, objs, tree, article, text, region)
    return article


def extract_outcome(article: Article, hints: ExtractionHints | None, min_chars: int,
                    max_elements: int | None) -> tuple[str | None, dict | str]:
    """:func:`extract_article` as one worker task that never raises: ``(None, fields)`` with the
    extracted :class:`Article` fields (every field but ``html``, which stays with the caller), or
    ``(outcome, detail)``: ``skipped/too_complex`` (over ``max_elements``, or ``MemoryError``
    at the worker's memory limit), ``failed/extract_error`` (any other error).

    Module-level and picklable, so :class:`rasd.pipelines.workers.WorkerPool` can run it in a worker
    process; the inline mode (``RASD_EXTRACT_WORKERS = 0``) calls it directly.
    """
    try:
        extract_article(article, hints, min_chars=min_chars, max_elements=max_elements)
    except TooComplex as exc:
        return "skipped/too_complex", str(exc)
    except MemoryError:
        article.html = ""  # let the tree and the page go before building the answer
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        limit = "no limit set" if soft == resource.RLIM_INFINITY else f"the {soft // 2**20} MiB limit"
        return "skipped/too_complex", f"{article.url}: out of memory at {limit} of the extraction worker"
    except Exception as exc:  # noqa: BLE001 - one bad page must not stop the crawl
        return "failed/extract_error", f"{article.url}: {type(exc).__name__}: {exc}"
    return None, {f.name: getattr(article, f.name) for f in fields(Article) if f.name != "html"}


class ExtractPipeline(StagePipeline):
    """Scrapy wrapper of :func:`extract_article`, run in a worker process with a budget.

    Outcomes: ``skipped/empty_body`` (no HTML), ``skipped/too_complex`` (more elements than
    ``max_elements``, extraction past ``timeout`` seconds, or past the workers' ``memory_mb``;
    the detail says which), ``failed/extract_error`` (any other error, or a worker that died;
    the crawl goes on), ``skipped/too_little_text`` (fewer than ``min_chars`` characters of
    text).  Per-outlet hints come from ``spider.outlets[item.outlet].extraction`` when the spider
    has them.

    Settings (``crawl.*`` in ``config/settings.yaml``, see :mod:`rasd.core.settings`):
    ``RASD_MIN_TEXT_CHARS`` (200), ``RASD_MAX_PAGE_ELEMENTS`` (:data:`MAX_PAGE_ELEMENTS`),
    ``RASD_EXTRACT_TIMEOUT_SECONDS`` (:data:`EXTRACT_TIMEOUT_SECONDS`), ``RASD_EXTRACT_WORKERS``
    (:data:`EXTRACT_WORKERS`; 0 runs extraction inline in the crawl's thread, for debugging:
    no timeout, no memory limit) and ``RASD_EXTRACT_MEMORY_MB`` (:data:`EXTRACT_MEMORY_MB`;
    0: no limit).  The pool (:class:`rasd.pipelines.workers.WorkerPool`) starts with the first page
    and stops in ``close_spider``.
    """

    def __init__(self, stats=None, min_chars: int = MIN_TEXT_CHARS, *,
                 max_elements: int | None = MAX_PAGE_ELEMENTS,
                 timeout: float | None = EXTRACT_TIMEOUT_SECONDS, workers: int = EXTRACT_WORKERS,
                 memory_mb: int | None = EXTRACT_MEMORY_MB):
        super().__init__(stats)
        self.min_chars, self.max_elements, self.timeout = min_chars, max_elements, timeout
        self.pool = WorkerPool(workers, memory_mb or None) if workers > 0 else None

    @classmethod
    def options_from_settings(cls, settings):
        return {
            "min_chars": settings.getint("RASD_MIN_TEXT_CHARS", MIN_TEXT_CHARS),
            "max_elements": settings.getint("RASD_MAX_PAGE_ELEMENTS", MAX_PAGE_ELEMENTS) or None,
            "timeout": settings.getfloat("RASD_EXTRACT_TIMEOUT_SECONDS", EXTRACT_TIMEOUT_SECONDS) or None,
            "workers": settings.getint("RASD_EXTRACT_WORKERS", EXTRACT_WORKERS),
            "memory_mb": settings.getint("RASD_EXTRACT_MEMORY_MB", EXTRACT_MEMORY_MB) or None,
        }

    async def process_item(self, item, spider=None):
        if not item.html or (isinstance(item.html, (str, bytes)) and not item.html.strip()):
            raise self.drop(item, "skipped/empty_body", item.url)
        outlet = self.outlet_of(item, spider)
        outcome, result = await self._extract(item, getattr(outlet, "extraction", None))
        if outcome is not None:
            raise self.drop(item, outcome, result)
        for name, value in result.items():
            setattr(item, name, value)
        if len(item.text.strip()) < self.min_chars:
            raise self.drop(item, "skipped/too_little_text", f"{item.url}: {len(item.text.strip())} chars")
        return item

    async def _extract(self, item, hints) -> tuple[str | None, dict | str]:
        args = (item, hints, self.min_chars, self.max_elements)
        if self.pool is None:
            return extract_outcome(*args)
        try:
            return await self.pool.run(extract_outcome, *args, timeout=self.timeout)
        except TaskTimeout:
            return "skipped/too_complex", f"{item.url}: extraction ran past {self.timeout:g} s (worker stopped)"
        except (WorkerDied, PoolUnavailable) as exc:
            return "failed/extract_error", f"{item.url}: {exc}"
        except Exception as exc:  # noqa: BLE001 - e.g. an item that cannot be pickled
            return "failed/extract_error", f"{item.url}: {type(exc).__name__}: {exc}"

    async def close_spider(self, spider=None) -> None:
        if self.pool is not None:
            from scrapy.utils.asyncio import run_in_thread

            await run_in_thread(self.pool.close)
            if self.pool.restarts:
                self.count("rasd/extract/pool_restarts", self.pool.restarts)
