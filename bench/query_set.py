"""Recall and precision of three Arabic analyses on the labelled query set (issue 11 targets for
today's template: recall ≥ 0.98, precision no more than 1 point below the v2 template's).

The query set and the measure: ``tests/search/_query_set.py``; ``tests/search/test_query_set.py``
asserts the targets.  Needs the search node (``RASD_ENGINE__URL``, default 127.0.0.1:9200).

    .venv/bin/python bench/query_set.py
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rasd.core.settings import load_settings  # noqa: E402
from rasd.search.engine import connect  # noqa: E402
from tests.search._query_set import ANALYSES, judgements, measure  # noqa: E402


def main() -> None:
    settings = load_settings()
    engine = connect(settings.engine, settings.secret)
    rows = judgements()
    print(f"{len(rows)} judgements, {sum(r.relevant for r in rows)} relevant, "
          f"{len({r.query for r in rows})} queries")
    for analysis in ANALYSES:
        prefix = f"rasd-bench-qs-{uuid.uuid4().hex[:8]}"
        try:
            fig = measure(engine, prefix, analysis, rows)
        finally:
            engine.request("DELETE", f"/{prefix}*", params={"expand_wildcards": "all"})
            engine.request("DELETE", f"/_index_template/{prefix}", missing_ok=True)
        print(f"RESULT {analysis:12} recall {fig.recall:.3f} ({fig.found_relevant}/{fig.relevant}), "
              f"precision {fig.precision:.3f} ({fig.found_other} non-relevant found)")
    engine.close()


if __name__ == "__main__":
    main()
