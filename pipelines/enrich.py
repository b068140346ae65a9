"""Topic tags and named entities: the taxonomy, the evidence rule, the gazetteer, EnrichPipeline.

Topics (``config/topics.yaml``): the top level of IPTC Media Topics (https://iptc.org/standards/
media-topics/, ``medtop:…`` codes); each topic has a stable ``slug`` (what ``Article.topics``
holds), its IPTC ``id``, English and Arabic labels and ``rules`` in the syntax users type in
``rasd search`` and Kibana (:mod:`rasd.core.rules`).  Entities (``config/entities.yaml``):
countries, cities, organisations and people, each a canonical Arabic name, English name, variants.

Evidence rule (:func:`topic_applies`): a topic applies when one of its evidence groups
(:func:`rasd.core.rules.evidence_groups`: clauses one word could satisfy together count once)
matches the *title*, or at least :data:`MIN_TEXT_EVIDENCE` = 2 distinct groups match title and
text together.  Why: one word anywhere used to be enough, and news text is full of incidental
words (a culture page about a Ramadan TV series said الصحة, الاجتماعي, الديني and got health,
society, culture and religion).  The headline states what the article is about, so one match
there is enough; in the body, two independent signals are (الملعب + "الرابطة المحترفة" is sport,
فنان alone is not culture).  Measured on the recorded corpus in ``tests/pipelines/test_enrich.py``.

Two matchers apply the same rule and the same groups (see :mod:`rasd.search.topics`):

* the local matcher here (:func:`tag_topics`, :mod:`rasd.core.rules`), which the crawl uses for
  every article, and ``rasd topics retag --offline``;
* the percolator (:func:`rasd.search.topics.percolate_topics`): each group stored as a percolator
  query and run with the index's own Arabic analyzer; ``rasd topics retag`` uses it.

Why the crawl tags locally (no network I/O in any item pipeline): an item pipeline runs on the
crawl's reactor, so one percolation request per item made an engine frozen for 30 s stall the
whole crawl 30 s (and every crawl start installed the rules first).  Batching percolation off
the reactor would not help: topics are part of the archive line, which is written before
anything else refers to the article (:mod:`rasd.pipelines.ledger`), so the article would wait
for the engine anyway, or be archived untagged and amended later.  The local matcher needs
neither: it reads the rules with the same parser and Lucene's precedence
(:mod:`rasd.core.query`) and reproduces the analyzers, and it agrees with the percolator —
``tests/search/test_query_syntax.py`` (thousands of generated queries, mixed AND/OR, NOT, stop
words, wildcards) and ``tests/search/test_topics.py`` (the taxonomy on every fixture article)
check that against the real engine.  It costs about a millisecond per article.  After an edit of
``config/topics.yaml``, ``rasd topics retag`` realigns archive and index through the percolator.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any


from rasd.pipelines.base import StagePipeline
from rasd.core.taxonomy import (ENTITIES_FILE,
    ENTITY_KINDS,
    TOPICS_FILE,
    Gazetteer,
    Taxonomy,
    load_gazetteer,
    load_taxonomy,
    topic_applies)
from rasd.core.rules import (QueryError,
    article_form,
    Document,
    exact_forms,
    parse_query,
    query_matches,
    split_clauses,
    stem)
from rasd.core.arabic import tokens
from rasd.core.failpoints import failpoint

__all__ = ["QueryError", "Document", "exact_forms", "parse_query", "query_matches", "split_clauses",
           "stem", "load_taxonomy", "load_gazetteer", "tag_topics", "match_entities", "EnrichPipeline"]
log = logging.getLogger(__name__)

def topic_evidence(article: Any, taxonomy: Taxonomy) -> dict[str, tuple[int, int]]:
    """``{slug: (groups matching the title, groups matching title + text)}`` for the topics
    with any evidence (the local matcher)."""
    title = getattr(article, "title", None)
    in_title, in_all = Document(title), Document(title, getattr(article, "text", ""))
    out = {}
    for topic in taxonomy.topics:
        hits = [g for g in topic.compiled_groups if any(in_all.matches(c) for c in g)]
        if hits:
            out[topic.slug] = (sum(any(in_title.matches(c) for c in g) for g in hits), len(hits))
    return out


def tag_topics(article: Any, taxonomy: Taxonomy) -> list[str]:
    """Slugs of the topics that apply to ``article.title`` / ``article.text`` by the evidence rule,
    in taxonomy order (the local matcher)."""
    evidence = topic_evidence(article, taxonomy)
    return [t.slug for t in taxonomy.topics if t.slug in evidence and topic_applies(*evidence[t.slug])]


def _readings(word: str) -> set[str]:
    """A text word and its readings without fused clitics: والعراق → العراق, لبغداد → بغداد."""
    out = {word}
    bare = article_form(word)
    if bare != word and len(bare) >= 2:
        out.add("ال" + bare)
    for p in ("وب", "ول", "وك", "فب", "فل", "و", "ف", "ب", "ل", "ك"):
        if word.startswith(p) and len(word) - len(p) >= 3:
            out.add(word[len(p):])
    return out


def match_entities(text: str, gazetteer: Gazetteer) -> dict[str, list[str]]:
    """Canonical names of the gazetteer entities named in ``text``, by kind.

    Shape: ``{"countries": ["العراق", "الولايات المتحدة"], "cities": ["بغداد"],
    "organisations": ["داعش"], "people": []}``: every kind present, names in order of first
    mention, each once.  Matching is on folded words (so أمريكا = امريكا, مسؤول = مسئول), the
    longest spelling first (الولايات المتحدة الأمريكية before الولايات المتحدة); a word may
    carry a fused article or preposition (والعراق, بالعراق, لبغداد, وداعش).
    """
    out: dict[str, list[str]] = {k: [] for k in ENTITY_KINDS}
    words = tokens(text)
    readings = [_readings(w) for w in words]
    i = 0
    while i < len(words):
        found = None
        for first in readings[i]:
            for key, kind, name in gazetteer.by_first.get(first, ()):
                n = len(key)
                if ((found is None or n > len(found[0])) and i + n <= len(words)
                        and all(key[j] in readings[i + j] for j in range(1, n))):
                    found = (key, kind, name)
        if found and found[2] not in out[found[1]]:
            out[found[1]].append(found[2])
        i += len(found[0]) if found else 1
    return out


# ---------------------------------------------------------------- Scrapy wrapper

class EnrichPipeline(StagePipeline):
    """Sets ``item.topics`` (the local matcher, :func:`tag_topics`) and the ``entities_*``
    fields; counts ``rasd/topics/<slug>`` (``rasd/topics/none`` when no topic applies) and
    ``rasd/topics/matcher/local``.  Never drops an item; not an outcome stage; no network I/O
    (see the module docstring).

    Settings: ``RASD_TOPICS_FILE`` (default ``config/topics.yaml``), ``RASD_ENTITIES_FILE``
    (default ``config/entities.yaml``).
    """

    def __init__(self, stats: Any = None, taxonomy: Taxonomy | None = None,
                 gazetteer: Gazetteer | None = None):
        super().__init__(stats)
        self.taxonomy = taxonomy or load_taxonomy()
        self.gazetteer = gazetteer or load_gazetteer()

    @classmethod
    def options_from_settings(cls, settings) -> dict[str, Any]:
        return {"taxonomy": load_taxonomy(Path(settings.get("RASD_TOPICS_FILE") or TOPICS_FILE)),
                "gazetteer": load_gazetteer(Path(settings.get("RASD_ENTITIES_FILE") or ENTITIES_FILE))}

    def _topics(self, item) -> list[str]:
        self.count("rasd/topics/matcher/local")
        return tag_topics(item, self.taxonomy)

    def process_item(self, item, spider=None):
        failpoint("in_enrich")
        item.topics = self._topics(item)
        for slug in item.topics or ["none"]:
            self.count(f"rasd/topics/{slug}")
        entities = match_entities(f"{item.title or ''}\n{item.text or ''}", self.gazetteer)
        for kind in ENTITY_KINDS:
            setattr(item, f"entities_{kind}", entities[kind])
        return item
