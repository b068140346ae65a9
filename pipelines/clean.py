"""Cleaning stage: shortcode remnants, junk lines and the trailing source credit.

Aggregators republish agency and broadcaster copy with leftovers of their CMS and of the
original: WordPress shortcodes (``[ads3]``, ``[caption …]…[/caption]``), "اقرأ أيضا"/"شارك هذا
المقال" lines, tickers ("عاجل: …"), and the original's credit at the end of the body
("…الامريكيين.(EURONEWS)[ads3]").  :func:`clean_article` removes the leftovers and turns the
credit into ``Article.source_credit`` (canonical name from ``config/cleaning.yaml``), so dedup
sees the same text for the original and the copy and analysts can facet by wire agency.

The rules are data (:class:`CleaningRules`, ``config/cleaning.yaml``), plus each outlet's
``extraction.junk_lines`` and ``default_credit`` from its seed file.

Ideas from: WordPress's shortcode grammar (``get_shortcode_regex``: ``[name attrs]…[/name]``),
line-level boilerplate lists as in jusText, and wire-agency credit conventions of Arabic papers
(the agency's abbreviation in parentheses closing the text).
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path

import yaml

from rasd.core.yamlio import safe_load
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rasd.pipelines.base import StagePipeline
from rasd.core.arabic import clean_text as unicode_policy, normalize
from rasd.core.article import Article
from rasd.core.errors import ConfigError
from rasd.core.paths import CONFIG_DIR
from rasd.core.seeds import ExtractionHints

CLEANING_FILE = CONFIG_DIR / "cleaning.yaml"

#: [ads3], [ads], [/column], [gallery ids="1,2"], [dropcap]…: an ASCII lower-case name, so
#: bracketed Arabic text ("[المصدر]") and numbers ("[1]") stay.
_SHORTCODE = re.compile(r"\[/?[a-z][a-z0-9_-]*(?:\s+[^\[\]\n]*)?/?\]")
_SPACES = re.compile(r"[ \t\u00a0\u200b\u2009\u202f]+")
_CREDIT_TAIL = re.compile(r"^(?P<body>.*?)[\s\-–—]*[(（]\s*(?P<credit>[^()（）\n]{1,40}?)\s*[)）][\s.]*$", re.S)
_CREDIT_LINE = re.compile(r"^(?:المصدر|المصادر|source)\s*[:：]\s*(?P<credit>[^\n]{1,40})$", re.I)
_CREDIT_KEY_DROP = re.compile(r"[\s.\-–—_'’]+")
_BYLINE_PREFIX = re.compile(r"^(?:بقلم|كتبت|كتب|بواسطة|إعداد|اعداد|تقرير|تحرير|by)\s*[:：\-–—]?\s+|^[:：\-–—]\s*", re.I)
_NOT_A_NAME = re.compile(r"develop|design|powered|copyright|©|حقوق|تصميم|تطوير|برمجة", re.I)
_PUNCT = re.compile(r"[^\w\s]+")


def _name_key(text: str) -> str:
    return " ".join(_PUNCT.sub("", normalize(text).lower()).split())


#: Staff labels that are not a person's name ("بقلم المحرر" = "by the editor").
_GENERIC_AUTHORS = frozenset(map(_name_key, (
    "المحرر", "محرر", "محرر الموقع", "فريق التحرير", "هيئة التحرير", "مدير الموقع", "الإدارة", "غير معروف",
    "admin", "administrator", "editor", "staff", "unknown",
)))


def _credit_key(text: str) -> str:
    return _CREDIT_KEY_DROP.sub("", normalize(text).lower())


def clean_author(raw: str | None, hints: ExtractionHints, sites: list[str]) -> str | None:
    """A person's name from a byline, or None.

    Strips byline words ("بقلم:", "كتب", "كتبت", "بواسطة", "إعداد", "تقرير", "By", and the
    outlet's ``author_prefixes``) and colons (case 04: "بقلم: سارة أحمد" → "سارة أحمد").  None
    for URLs, e-mail handles, the site's own names (``sites``), staff labels ("المحرر") and
    strings that look like a sentence, a date or a credits line ("Developed by …").
    """
    text = " ".join((raw or "").split())
    extra = [p.strip() for p in hints.author_prefixes if p.strip()]
    for _ in range(3):
        before = text
        text = _BYLINE_PREFIX.sub("", text).strip()
        for p in extra:
            if text.startswith(p):
                text = text[len(p):].lstrip(" :：-–—")
        if text == before:
            break
    text = text.strip(" :：-–—|،,")
    if (not text or "://" in text or "@" in text or any(c.isdigit() for c in text) or len(text.split()) > 8
            or _NOT_A_NAME.search(text)):
        return None
    key = _name_key(text)
    return None if key in _GENERIC_AUTHORS or any(key == _name_key(s) for s in sites if s) else text


class CleaningRules(BaseModel):
    """The global cleaning rules (``config/cleaning.yaml``).

    * ``junk_lines``: regular expressions searched (case-insensitively) in each stripped body
      line; a matching line of at most ``max_junk_line_chars`` characters is removed.
    * ``boilerplate_paragraphs``: regular expressions searched (case-insensitively) in each
      line whatever its length: a matching paragraph is removed (a site's comment policy or a
      share prompt runs over two hundred characters).
    * ``paired_shortcodes``: shortcode names removed with their content (``[caption]…[/caption]``).
    * ``credits``: canonical credit → aliases (``Euronews: [EURONEWS, يورونيوز]``).

    A generic check needs no rule: a line among the first :data:`HEADLINE_LINES` that repeats
    the title (compared folded, without punctuation) is removed (:func:`drop_repeated_title`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    junk_lines: list[str] = []
    max_junk_line_chars: int = Field(default=200, ge=1)
    boilerplate_paragraphs: list[str] = []
    paired_shortcodes: list[str] = []
    credits: dict[str, list[str]] = {}

    @field_validator("junk_lines", "boilerplate_paragraphs")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for p in patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {p!r}: {exc}") from exc
        return patterns

    @field_validator("paired_shortcodes")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for n in names:
            if not re.fullmatch(r"[a-z][a-z0-9_-]*", n):
                raise ValueError(f"not a shortcode name: {n!r}")
        return names

    @cached_property
    def junk_regex(self) -> re.Pattern | None:
        return re.compile("|".join(f"(?:{p})" for p in self.junk_lines), re.I) if self.junk_lines else None

    @cached_property
    def boilerplate_regex(self) -> re.Pattern | None:
        ps = self.boilerplate_paragraphs
        return re.compile("|".join(f"(?:{p})" for p in ps), re.I) if ps else None

    @cached_property
    def paired_regex(self) -> re.Pattern | None:
        if not self.paired_shortcodes:
            return None
        names = "|".join(map(re.escape, self.paired_shortcodes))
        return re.compile(rf"\[({names})\b[^\]]*\].*?\[/\1\]", re.S)

    @cached_property
    def credit_table(self) -> dict[str, str]:
        """Alias key → canonical name; the canonical names are their own aliases."""
        return {_credit_key(a): canon for canon, aliases in self.credits.items() for a in (canon, *aliases)}


def load_cleaning_rules(path: Path | None = None) -> CleaningRules:
    """Read and validate ``config/cleaning.yaml`` (or ``path``).

    Raises:
        ConfigError: missing/unreadable file, bad YAML, or a field that fails the schema — the
            message names the file and the field (``config/cleaning.yaml: junk_lines.3: …``).
    """
    path = Path(path) if path else CLEANING_FILE
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read cleaning rules: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the cleaning rules must be a mapping of fields")
    try:
        return CleaningRules.model_validate(data)
    except ValidationError as exc:
        lines = [f"{path}: {'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def strip_shortcodes(text: str, rules: CleaningRules) -> str:
    """Remove WordPress shortcodes: paired ones with their content, then any ``[name …]``."""
    if "[" not in text:
        return text
    if rules.paired_regex is not None:
        text = rules.paired_regex.sub("", text)
    return _SHORTCODE.sub("", text)


def split_credit(text: str, rules: CleaningRules) -> tuple[str, str | None]:
    """``(text without its trailing credit, canonical credit)``, or ``(text, None)``.

    A credit is a known alias in parentheses ending the last line ("… (أ ف ب)", "…--(بترا)"),
    possibly several ("(رويترز، أ ف ب)": the first known one is kept), or a last line
    "المصدر: رويترز".  Unknown parenthesised endings are left alone.
    """
    head, _, last = text.rpartition("\n")
    m = _CREDIT_TAIL.match(last) or _CREDIT_LINE.match(last.strip())
    if not m:
        return text, None
    names = [rules.credit_table.get(_credit_key(p)) for p in re.split(r"[،,/|]|\sو", m["credit"]) if p.strip()]
    if not names or not all(names):
        return text, None
    body = m.groupdict().get("body") or ""
    body = body.rstrip(" -–—")
    return (f"{head}\n{body}" if head and body else head or body), names[0]


def clean_text(text: str, rules: CleaningRules, junk: re.Pattern | None = None) -> str:
    """Shortcodes out, whitespace collapsed, junk lines and empty lines dropped; one paragraph
    a line (``\\n`` between paragraphs, as trafilatura writes them)."""
    text = strip_shortcodes(text, rules)
    out = []
    limit = rules.max_junk_line_chars
    for line in text.splitlines():
        line = _SPACES.sub(" ", line).strip()
        if not line:
            continue
        if len(line) <= limit and any(rx is not None and rx.search(line) for rx in (rules.junk_regex, junk)):
            continue
        if rules.boilerplate_regex is not None and rules.boilerplate_regex.search(line):
            continue
        out.append(line)
    return "\n".join(out)


#: how many of the body's first lines may repeat the headline (after a section/date stamp line
#: or a kicker, extraction's own first-line check misses it)
HEADLINE_LINES = 3


def drop_repeated_title(text: str, title: str | None) -> str:
    """``text`` without the lines among its first :data:`HEADLINE_LINES` that repeat ``title``
    (folded, punctuation and spaces ignored: :func:`_name_key`)."""
    if not title or not text:
        return text
    key = _name_key(title)
    if not key:
        return text
    lines = text.split("\n")
    head = [ln for ln in lines[:HEADLINE_LINES] if _name_key(ln) != key]
    return "\n".join(head + lines[HEADLINE_LINES:]) if len(head) < min(len(lines), HEADLINE_LINES) else text


def clean_article(article: Article, rules: CleaningRules, hints: ExtractionHints | None = None) -> Article:
    """Clean ``article.text``/``title``/``description`` in place and set ``source_credit``.

    Args:
        article: after :func:`rasd.pipelines.extract.extract_article`.
        rules: from :func:`load_cleaning_rules`.
        hints: the outlet's extraction hints: ``junk_lines`` are applied like the global ones;
            ``default_credit`` becomes ``source_credit`` when the body ends with no credit.

    Returns:
        The same article.  Nothing but shortcodes, junk lines, boilerplate paragraphs, the
        headline repeated at the top, surplus whitespace and the trailing credit is removed, after the Unicode policy of the folding table
        (:func:`rasd.core.arabic.clean_text`: invisible characters and tatweel out,
        presentation forms to base letters, a ZWNJ between words a space) is applied to text,
        title and description: body, title, index, alerts and shingles see one text.
    """
    hints = hints or ExtractionHints()
    junk = re.compile("|".join(f"(?:{p})" for p in hints.junk_lines), re.I) if hints.junk_lines else None
    text = clean_text(unicode_policy(article.text or ""), rules, junk)
    text = drop_repeated_title(text, unicode_policy(article.title or ""))
    text, credit = split_credit(text, rules)
    article.text = text.strip()
    article.source_credit = credit or hints.default_credit
    for name in ("title", "description"):
        value = getattr(article, name)
        if value:
            value = unicode_policy(strip_shortcodes(value, rules))
            setattr(article, name, _SPACES.sub(" ", value).strip() or None)
    return article


class CleanPipeline(StagePipeline):
    """Scrapy wrapper of :func:`clean_article`; never drops (counts
    ``rasd/clean/credit/<credit>`` for credited articles).  The rules file is
    ``<RASD_CONFIG_DIR>/cleaning.yaml``; a broken file stops the crawl at start-up
    (:class:`~rasd.core.errors.ConfigError`)."""

    def __init__(self, stats=None, rules: CleaningRules | None = None):
        super().__init__(stats)
        self.rules = rules or load_cleaning_rules()

    @classmethod
    def options_from_settings(cls, settings):
        config_dir = settings.get("RASD_CONFIG_DIR")
        return {"rules": load_cleaning_rules(Path(config_dir) / "cleaning.yaml" if config_dir else None)}

    def process_item(self, item, spider=None):
        outlet = self.outlet_of(item, spider)
        clean_article(item, self.rules, getattr(outlet, "extraction", None))
        if item.source_credit:
            self.count(f"rasd/clean/credit/{item.source_credit}")
        return item
