"""``--since``/``--until`` are checked before they reach the engine (no node needed)."""

import json

import pytest

from rasd.core.errors import ConfigError
from rasd.search.articles import build_query


def _range(**kw) -> dict:
    body = json.dumps(build_query("غزة", **kw))
    return json.loads(body)["query"]["bool"]["filter"][0]["range"]["published_at"]


@pytest.mark.parametrize("given,sent", [("7d", "now-7d"), ("12h", "now-12h"), ("now-30d", "now-30d"),
                                        ("2024-02-29", "2024-02-29"), ("2024-01-31T12:00Z", "2024-01-31T12:00Z")])
def test_accepted_forms(given, sent):
    assert _range(since=given)["gte"] == sent


@pytest.mark.parametrize("bad", ["2025-02-30", "2024-13-01", "yesterday", "7 days"])
def test_refused_before_the_engine(bad):
    with pytest.raises(ConfigError, match="--until"):
        build_query("غزة", until=bad)
