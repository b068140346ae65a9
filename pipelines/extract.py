"""Extraction stage: from ``Article.html`` to text and metadata, parsing the page once.

:func:`extract_article` parses the HTML with trafilatura's lenient loader (lxml underneath),
reads metadata from that tree itself (meta tags, JSON-LD, headings, bylines, date evidence)
and hands the same tree to ``trafilatura.bare_extraction`` for the main text, with
``include_comments=False`` passed explicitly (trafilatura keeps comments by default; case 01)
and without trafilatura's own metadata pass: its author search alone costs about half an
extraction and it would run htmldate on every page.  Date evidence is not parsed here but
stored in ``Article.date_candidates`` for :mod:`pipelines.dates`; htmldate runs only when the
page has no cheaper date and the feed gave none.

Own rules where trafilatura goes wrong on Arabic pages: titles lose site-name affixes and never
come from a language menu (case 02); bylines lose "بقلم:"/"كتب"/… (case 04).
"""

from __future__ import annotations

import json
import re
from urllib.parse import urljoin, urlsplit

import trafilatura
from lxml import etree

from pipelines import dates
from pipelines.base import StagePipeline
from rasd.article import Article
from rasd.errors import RasdError
from rasd.seeds import ExtractionHints

#: Fewer characters than this from trafilatura → try the fallbacks; the wrapper's default
#: for ``skipped/too_little_text``.
MIN_TEXT_CHARS = 200

_NO_HINTS = ExtractionHints()
_WS = re.compile(r"[\s\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")
_PUNCT = re.compile(r"[^\w\s]+")
#: Title separators between a headline and a site name (":" is not one: Arabic headlines use it).
_TITLE_SEP = re.compile(r"\s+(?:[|\-–—•·»«]|::)\s+")
#: Containers whose headings, bylines and dates belong to navigation, not to the article.
_NAVISH = re.compile(r"lang|menu|nav|sidebar|widget|related|footer|comment|breadcrumb|logo|share|ticker", re.I)
_DATE_NAVISH = re.compile(r"header|top|today|current|menu|nav|sidebar|widget|related|most|popular|footer|comment|ticker|tab", re.I)
_DATE_TAGS = ("nav", "aside", "script", "style")  # an article's own <footer> often holds its date
_ARTICLE_TYPES = {"newsarticle", "article", "reportagenews", "blogposting", "analysisnewsarticle",
                  "opinionnewsarticle", "backgroundnewsarticle", "liveblogposting", "report", "webpage"}
_BYLINE_PREFIX = re.compile(r"^(?:بقلم|كتبت|كتب|بواسطة|إعداد|اعداد|تقرير|تحرير|by)\s*[:：\-–—]?\s+|^[:：\-–—]\s*", re.I)
_GENERIC_AUTHORS = {"المحرر", "محرر", "محرر الموقع", "فريق التحرير", "هيئة التحرير", "admin", "administrator",
                    "editor", "staff", "مدير الموقع", "الادارة", "غير معروف", "unknown"}
_NOT_A_NAME = re.compile(r"develop|design|powered|copyright|©|حقوق|تصميم|تطوير|برمجة", re.I)
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
_X = {"re": "http://exslt.org/regular-expressions"}
_JSONLD = etree.XPath("//script[@type='application/ld+json']")
_H1 = etree.XPath("//h1")
_ARTICLE_HEADINGS = etree.XPath("//article//h1|//article//h2|//main//h2|//*[@itemprop='headline']|//h2|//h3")
_BYLINES = etree.XPath(
    "//*[@itemprop='author' or @rel='author' or re:test(concat(@class,' ',@id),'author|byline|writer|kateb','i')]",
    namespaces=_X,
)
_ITEMPROP_DATE = etree.XPath("//*[@itemprop='datePublished' and not(self::meta)]|//time[@pubdate or @datetime]")
_PREFIX_TEXT = etree.XPath(
    "//text()[contains(.,'نشر') or contains(.,'نُشر') or contains(.,'انتشار')"
    " or contains(.,'ublished') or contains(.,'osted')][string-length(.) < 200]"
)
_DATE_CLASS = etree.XPath(
    "//*[re:test(concat(@class,' ',@id,' ',@itemprop),'date|(^|[^a-z])dat([^a-z]|$)|time|publish|created|posted','i')]", namespaces=_X
)


class ExtractError(RasdError):
    """The HTML could not be parsed into a document tree."""


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
    for script in _JSONLD(tree):
        try:
            stack.append(json.loads(script.text or "", strict=False))
        except ValueError:
            continue
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


def choose_title(meta, objs, tree, hints: ExtractionHints, sites: list[str], host: str) -> tuple[str | None, list[str]]:
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
    raw = _first(meta, "og:title") or next((_clean(h) for h in _ld(objs, "headline", "headLine") if isinstance(h, str)), None) \
        or _first(meta, "twitter:title", "dc.title") or (_clean(titles[0].text_content()) if titles else None)
    h1s = [t for t in (_clean(h.text_content()) for h in _H1(tree) if not _navish(h)) if t]
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


def clean_author(raw: str | None, hints: ExtractionHints, sites: list[str]) -> str | None:
    """A person's name from a byline: prefixes ("بقلم:", "كتب", "By", the outlet's
    ``author_prefixes``) and colons stripped; None for URLs, site names, generic staff names
    ("المحرر") and strings that look like a whole sentence or a date."""
    text = _clean(raw)
    extra = [p for p in hints.author_prefixes if p.strip()]
    for _ in range(3):
        before = text
        text = _BYLINE_PREFIX.sub("", text).strip()
        for p in extra:
            if text.startswith(p.strip()):
                text = text[len(p.strip()):].lstrip(" :：-–—")
        if text == before:
            break
    text = text.strip(" :：-–—|،,")
    if not text or "://" in text or "@" in text or any(c.isdigit() for c in text) or len(text.split()) > 8 \
            or _NOT_A_NAME.search(text):
        return None
    k = _key(text)
    if k in {_key(g) for g in _GENERIC_AUTHORS} or any(k == _key(s) for s in sites):
        return None
    return text


def _author(meta, objs, tree, hints, sites) -> str | None:
    raws = [n for a in _ld(objs, "author") for a in (a if isinstance(a, list) else [a])
            if not (isinstance(a, dict) and str(a.get("@type", "Person")).lower() != "person") for n in _names(a)]
    raws += [v for k in ("author", "article:author", "dc.creator", "byl") for v in meta.get(k, ())]
    for el in _BYLINES(tree):
        if el.tag not in ("meta", "link", "script", "style") and not _navish(el):
            raws.append(el.text_content())
    for raw in raws:
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


def date_candidates(meta, objs, tree, article: Article) -> list[tuple[str, str]]:
    """Raw date evidence as ``(source, text)`` in preference order (see :mod:`pipelines.dates`).

    JSON-LD ``datePublished``; publication-date ``<meta>``s; ``itemprop=datePublished`` and
    ``<time datetime>`` outside navigation.  Only when these give no plausible date: short
    visible texts with a "published" word ("نشر في", "تاريخ النشر", …; never script text,
    case 05), then short texts of date-classed elements outside headers/sidebars (the date in a
    site header is today's, not the article's).  Last, and only without a feed date, htmldate.
    """
    out = [("jsonld", v) for v in _ld(objs, "datePublished", "dateCreated") if isinstance(v, str)]
    out += [("meta", v) for k in _DATE_META_KEYS for v in meta.get(k, ())]
    for el in _ITEMPROP_DATE(tree):
        value = el.get("content") or el.get("datetime") or el.text_content()
        if value and not _navish(el, _DATE_NAVISH, _DATE_TAGS):
            out.append(("meta", _clean(value)))
    fetched = article.fetched_at
    if dates.has_plausible_date(out, fetched):
        return out
    for node in _PREFIX_TEXT(tree):
        parent = node.getparent()
        if (parent is not None and parent.tag not in ("script", "style", "title")
                and not _navish(parent, _DATE_NAVISH, _DATE_TAGS) and _PUBLISHED_PREFIX.search(dates.fold(node))):
            out.append(("page_text", _clean(node)))
    for el in _DATE_CLASS(tree):
        if el.tag not in ("script", "style", "meta", "input") and not _navish(el, _DATE_NAVISH, _DATE_TAGS):
            text = _clean(el.text_content())
            if text and len(text) < 200 and any(c.isdigit() for c in text):
                out.append(("page_text", text))
    if article.feed_published_at is None and not dates.has_plausible_date(out, fetched):
        found = dates.htmldate_candidate(tree, article.url, fetched)
        if found:
            out.append(found)
    return out


def extract_article(article: Article, hints: ExtractionHints | None = None, *, min_chars: int = MIN_TEXT_CHARS) -> Article:
    """Fill ``article``'s text and metadata from ``article.html``; returns the same object.

    Sets ``title``, ``text`` (paragraphs separated by ``\\n``), ``description``, ``author``,
    ``site_name``, ``image`` and ``canonical_url`` (absolute; the page's canonical link or
    og:url, else ``article.url``), ``extractor`` (``"trafilatura"``, or ``"jsonld"`` for a
    JSON-LD ``articleBody`` / ``"baseline"`` for trafilatura's baseline when trafilatura gives
    fewer than ``min_chars`` characters), ``declared_language`` (when still None: ``<html lang>``,
    og:locale, Content-Language; ISO 639 primary subtag) and ``date_candidates``.

    Raises:
        ExtractError: the HTML cannot be parsed at all (empty or not HTML).
    """
    hints = hints or _NO_HINTS
    tree = trafilatura.load_html(article.html) if article.html and article.html.strip() else None
    if tree is None:
        raise ExtractError(f"{article.url}: not parseable as HTML")
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
    if article.title and text.split("\n", 1)[0].strip() and _key(text.split("\n", 1)[0]) == _key(article.title):
        article.text = text.split("\n", 1)[1] if "\n" in text else ""  # the headline repeated as first line
    article.description = _first(meta, "og:description", "description", "twitter:description") or next(
        (_clean(d) for d in _ld(objs, "description") if isinstance(d, str)), None)
    handles = [v.lstrip("@") for v in meta.get("twitter:site", ()) if "://" not in v]
    article.site_name = next(iter([*sites, *affixes, *handles]), None)
    article.author = _author(meta, objs, tree, hints, [*sites, *affixes, *handles, host.split(".")[0]])
    article.image = next((u for v in [*(meta.get(k, [None])[0] for k in ("og:image", "og:image:secure_url", "og:image:url",
                          "twitter:image", "twitter:image:src", "thumbnailurl")), *_ld(objs, "image", "thumbnailUrl")]
                          if v and (u := _absolute(base, v))), None)
    canonical = next((link.get("href") for link in tree.iter("link") if (link.get("rel") or "").lower() == "canonical"), None)
    article.canonical_url = _absolute(base, canonical) or _absolute(base, _first(meta, "og:url")) or base
    if article.declared_language is None:
        article.declared_language = _declared_language(tree, meta)
    article.date_candidates = date_candidates(meta, objs, tree, article)
    return article


class ExtractPipeline(StagePipeline):
    """Scrapy wrapper of :func:`extract_article`.

    Outcomes: ``skipped/empty_body`` (no HTML), ``failed/extract_error`` (any error while
    extracting; the crawl goes on), ``skipped/too_little_text`` (fewer than ``min_chars``
    characters of text; setting ``RASD_MIN_TEXT_CHARS``, default 200).  Per-outlet hints come
    from ``spider.outlets[item.outlet].extraction`` when the spider has them.
    """

    def __init__(self, stats=None, min_chars: int = MIN_TEXT_CHARS):
        super().__init__(stats)
        self.min_chars = min_chars

    @classmethod
    def options_from_settings(cls, settings):
        return {"min_chars": settings.getint("RASD_MIN_TEXT_CHARS", MIN_TEXT_CHARS)}

    def process_item(self, item, spider):
        if not (item.html or "").strip():
            raise self.drop(item, "skipped/empty_body", item.url)
        outlet = (getattr(spider, "outlets", None) or {}).get(item.outlet)
        hints = getattr(outlet, "extraction", None)
        try:
            extract_article(item, hints, min_chars=self.min_chars)
        except Exception as exc:  # one bad page must not stop the crawl
            raise self.drop(item, "failed/extract_error", f"{item.url}: {type(exc).__name__}: {exc}") from None
        if len(item.text.strip()) < self.min_chars:
            raise self.drop(item, "skipped/too_little_text", f"{item.url}: {len(item.text.strip())} chars")
        return item
