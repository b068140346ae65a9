"""What an alert may be filtered on, and the checks every new or edited alert passes.

:class:`Catalog` holds the values that exist: outlets (the ``seeds/`` outlets and any other
outlet the index holds articles of, e.g. a replayed recording's), languages (ISO 639 codes,
CLDR names from Babel in Arabic and English), topics (``config/topics.yaml``).  The web app's
filter choices come from it; :func:`check_alert` refuses an alert that could never fire:

* a language that is not an ISO 639 code (``arabic`` → "did you mean ar?"), a topic not in the
  taxonomy, an outlet that is neither in ``seeds/`` nor in the index;
* no delivery at all (Rasd refuses such alerts rather than keep them "preview only": an alert
  nobody is told of breaks the promise; ``rasd alerts test`` and the web preview show what a
  query would find without saving anything).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from rasd.alerts.model import Alert, AlertError
from rasd.core.errors import ConfigError, EngineError
from rasd.search.engine import Engine

_CODE = re.compile(r"^[a-z]{2,3}$")


@lru_cache(maxsize=4)
def language_names(locale: str = "en") -> dict[str, str]:
    """``{ISO 639 code: name in ``locale``}`` (CLDR, via Babel), codes of 2–3 letters only."""
    from babel import Locale

    return {k: v for k, v in Locale.parse(locale).languages.items() if _CODE.match(k)}


@dataclass
class Catalog:
    """The values alerts and searches can be filtered on: ``outlets`` (``{slug: display
    name}``), ``languages`` (codes present in the index, most frequent first, then those the
    seeds declare), ``topics``
    (``{slug: (label_ar, label_en)}``)."""

    outlets: dict[str, str] = field(default_factory=dict)
    languages: list[str] = field(default_factory=list)
    topics: dict[str, tuple[str, str]] = field(default_factory=dict)

    def outlet_name(self, slug: str) -> str:
        return self.outlets.get(slug) or slug

    def language_name(self, code: str, locale: str = "ar") -> str:
        return language_names(locale).get(code, code)


def build_catalog(seeds_dir: Path | None = None, engine: Engine | None = None, index: str | None = None,
                  topics_file: Path | None = None) -> Catalog:
    """The :class:`Catalog` from the seeds, the taxonomy and (when ``engine`` answers) the
    index's own outlet and language values (terms aggregations).

    Raises:
        ConfigError: unreadable seeds or taxonomy.
    """
    from rasd.core.seeds import load_outlets
    from rasd.core.taxonomy import TOPICS_FILE, load_taxonomy

    seeds = load_outlets(seeds_dir, include_disabled=True)
    outlets = {slug: o.name for slug, o in seeds.items()}
    languages: list[str] = []
    if engine is not None and index is not None:
        try:
            answer = engine.search(index, {"size": 0, "aggs": {
                "outlets": {"terms": {"field": "outlet", "size": 1000}},
                "languages": {"terms": {"field": "language", "size": 200}}}})
            for b in answer.get("aggregations", {}).get("outlets", {}).get("buckets", []):
                outlets.setdefault(b["key"], b["key"])
            languages = [b["key"] for b in answer.get("aggregations", {}).get("languages", {}).get("buckets", [])]
        except EngineError:
            pass  # no index yet, or the engine is down: seeds only
    for o in seeds.values():  # the languages the seeds publish in exist too
        languages += [code for code in o.languages if code not in languages]
    taxonomy = load_taxonomy(topics_file or TOPICS_FILE)
    topics = {t.slug: (t.label_ar, t.label_en) for t in taxonomy.topics}
    return Catalog(outlets=dict(sorted(outlets.items())), languages=languages, topics=topics)


def _suggest(value: str, choices: list[str], lang: str = "en") -> str:
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return _hint(close[0], lang) if close else ""


def _hint(value: str, lang: str) -> str:
    return f"؛ هل تقصد {value}؟" if lang == "ar" else f"; did you mean {value}?"


def value_problems(catalog: Catalog, *, outlets=(), languages=(), topics=(), prefix: str = "filters.",
                   lang: str = "en") -> list[str]:
    """One sentence per filter value that does not exist (empty: all fine); ``prefix`` names
    the field in the sentences (``filters.`` for alerts, ``--`` for the CLI's options);
    ``lang="ar"``: the sentences in Arabic for the web app's Arabic pages, naming the field by
    the form's label (اللغة, الموضوع, المصدر) instead of ``prefix``."""
    problems = []
    names = language_names("en")
    label = {"languages": "lang", "topics": "topic", "outlets": "outlet"} if prefix == "--" else {}
    arabic = lang == "ar"
    for code in languages:
        if code not in names:
            by_name = {v.lower(): k for k, v in names.items()}
            # a name ("arabic") gives its code; a near miss is suggested among the languages Rasd sees,
            # not all of ISO 639 ("xx" is not a typo of "zxx", no linguistic content)
            hint = _hint(by_name[code.lower()], lang) if code.lower() in by_name \
                else _suggest(code, catalog.languages, lang)
            problems.append(f"اللغة «{code}» ليست رمز لغة من ISO 639 (مثل ar وfa وur وen){hint}" if arabic else
                            f"{prefix}{label.get('languages', 'languages')}: {code!r} is not an ISO 639 "
                            f"language code (ar, fa, ur, en …){hint}")
    for slug in topics:
        if slug not in catalog.topics:
            hint = _suggest(slug, list(catalog.topics), lang)
            problems.append(f"الموضوع «{slug}» ليس من الموضوعات ({'، '.join(sorted(catalog.topics))}){hint}"
                            if arabic else
                            f"{prefix}{label.get('topics', 'topics')}: {slug!r} is not a topic of "
                            f"config/topics.yaml ({', '.join(sorted(catalog.topics))}){hint}")
    for slug in outlets:
        if slug not in catalog.outlets:
            hint = _suggest(slug, list(catalog.outlets), lang)
            problems.append(f"المصدر «{slug}» غير معروف (لا في seeds/ ولا في الفهرس؛ rasd outlets){hint}"
                            if arabic else
                            f"{prefix}{label.get('outlets', 'outlets')}: {slug!r} is not a known outlet "
                            f"(seeds/ or the index; `rasd outlets`){hint}")
    return problems


def filter_problems(alert: Alert, catalog: Catalog) -> list[str]:
    """:func:`value_problems` of ``alert``'s filters."""
    f = alert.filters
    return value_problems(catalog, outlets=f.outlets, languages=f.languages, topics=f.topics)


def check_alert(alert: Alert, catalog: Catalog) -> None:
    """Refuse an alert that could never fire or never tell anyone (see the module docstring).

    Raises:
        AlertError: naming the alert, then every problem (``; ``-separated, one line).
    """
    problems = filter_problems(alert, catalog)
    if not alert.deliveries.configured():
        problems.append("no delivery: an alert needs at least one of webhook, email, atom, apprise "
                        "(use `rasd alerts test` or the web preview to try a query without one)")
    if problems:
        raise AlertError(f"alert {alert.name}: " + "; ".join(problems))


def catalog_for(settings, engine: Engine | None) -> Catalog:
    """:func:`build_catalog` from :class:`~rasd.core.settings.RasdSettings` (seeds dir, index
    prefix, ``config_dir/topics.yaml``)."""
    topics = Path(settings.config_dir) / "topics.yaml"
    try:
        return build_catalog(settings.seeds_dir, engine, settings.engine.index_prefix,
                             topics if topics.exists() else None)
    except ConfigError:
        raise
