"""Token F1 of the extracted, cleaned text against the gold pages' whole texts (targets: mean ≥
0.97, min ≥ 0.93, recall ≥ 0.99 on every page).

Rasd's path is extract → clean (→ dates), as the crawl chains them; beside it, plain
``trafilatura.extract`` on the same pages (comments off).  Gold texts and the measure:
``tests/pipelines/_gold.py``.  ``tests/pipelines/test_gold_f1.py`` asserts the targets.

    .venv/bin/python bench/gold_f1.py
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import trafilatura

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pipelines._corpus import CORPUS, corpus_article  # noqa: E402
from tests.pipelines._gold import gold_pages, token_scores  # noqa: E402


def main() -> None:
    rows = {"rasd": [], "trafilatura": []}
    print(f"{'page':58} {'rasd P':>7} {'R':>6} {'F1':>6}   {'plain P':>7} {'R':>6} {'F1':>6}")
    for gold in gold_pages():
        article = corpus_article(gold.page)
        html = (CORPUS / gold.page).read_text(encoding="utf-8")
        plain = trafilatura.extract(html, include_comments=False) or ""
        ours, theirs = token_scores(article.text, gold.text), token_scores(plain, gold.text)
        rows["rasd"].append(ours)
        rows["trafilatura"].append(theirs)
        print(f"{gold.page[-58:]:58} {ours.precision:7.3f} {ours.recall:6.3f} {ours.f1:6.3f}   "
              f"{theirs.precision:7.3f} {theirs.recall:6.3f} {theirs.f1:6.3f}")
    for name, scores in rows.items():
        f1 = [s.f1 for s in scores]
        print(f"RESULT {name}: token F1 mean {statistics.mean(f1):.3f}, min {min(f1):.3f}; "
              f"recall min {min(s.recall for s in scores):.3f}; precision mean "
              f"{statistics.mean(s.precision for s in scores):.3f} ({len(f1)} gold pages)")


if __name__ == "__main__":
    main()
