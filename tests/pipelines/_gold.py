"""Gold pages: recorded article pages whose whole main text is known, and token F1 against it.

Gold texts (``tests/fixtures/corpus``, copies of ``../shared/corpus``):

* the seven Jawhara FM pages of the ANT corpus: the ``<TEXT>`` of the TREC-style record beside
  each page (the text the corpus' own crawler kept);
* CNN Arabic: newspaper4k's ``newspaper4k_arabic_article.txt`` (goose3's ``cleaned_text`` for
  its copy of the page is cut after the first paragraphs, so it is no whole text: not gold);
* the seed story, original and aggregator copy: ``seed/seed-article.txt`` without its title
  line and its trailing ``(EURONEWS)[ads3]`` credit (the credit is ``source_credit``, not text).

Token F1 (:func:`token_scores`): the words of both texts (:func:`rasd.core.arabic.tokens`:
folded, lower-cased runs of letters and digits) compared as multisets; precision = common /
extracted, recall = common / gold.  The measure of trafilatura's own evaluation and of
CleanEval's, on words instead of characters.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from rasd.core.arabic import tokens
from tests.pipelines._corpus import CORPUS


@dataclass(frozen=True)
class Gold:
    """One gold page: the page (relative to the corpus) and its whole main text."""

    page: str
    text: str


def _antcorpus_text(rel: str) -> str:
    record = (CORPUS / rel).read_text(encoding="utf-8")
    return re.search(r"<TEXT>(.*?)</TEXT>", record, re.S).group(1).strip()


def gold_pages() -> list[Gold]:
    """Every gold page, in a fixed order."""
    out = []
    for txt in sorted((CORPUS / "pages" / "jawharafm.net").glob("antcorpus_*.txt")):
        rel = txt.relative_to(CORPUS).as_posix()
        out.append(Gold(rel[:-4] + ".html", _antcorpus_text(rel)))
    out.append(Gold("pages/cnn_arabic/newspaper4k_arabic_article.html",
                    (CORPUS / "pages/cnn_arabic/newspaper4k_arabic_article.txt").read_text(encoding="utf-8")))
    seed = (CORPUS / "seed/seed-article.txt").read_text(encoding="utf-8").strip().split("\n", 1)[1]
    seed = re.sub(r"\s*\(EURONEWS\)\s*\[ads3\]\s*$", "", seed)
    out += [Gold("seed/euronews-original.html", seed), Gold("seed/aggregator-republished.html", seed)]
    return out


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def token_scores(extracted: str, gold: str) -> Scores:
    """Token precision and recall of ``extracted`` against ``gold`` (multisets of words)."""
    got, want = Counter(tokens(extracted or "")), Counter(tokens(gold))
    common = sum((got & want).values())
    return Scores(common / max(1, sum(got.values())), common / max(1, sum(want.values())))
