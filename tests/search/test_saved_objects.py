"""The Kibana and OpenSearch Dashboards saved objects (config/kibana, config/opensearch-dashboards)
only use fields that exist in the index mapping, and their references resolve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rasd.search.articles import build_template, mapped_fields
from rasd.core.settings import EngineSettings

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "config").glob("kibana/*.ndjson")) + \
    sorted((ROOT / "config").glob("opensearch-dashboards/*.ndjson"))
MAPPING = mapped_fields(build_template(EngineSettings().index_prefix)["template"]["mappings"])


def _objects(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def referenced_fields(obj: dict) -> set[str]:
    """Field names an object uses: data view time field, saved-search columns and sort,
    visualization aggregation fields."""
    attrs, out = obj["attributes"], set()
    if obj["type"] == "index-pattern":
        out.add(attrs["timeFieldName"])
    if obj["type"] == "search":
        out.update(attrs["columns"])
        out.update(field for field, _ in attrs["sort"])
    if obj["type"] == "visualization":
        for agg in json.loads(attrs["visState"])["aggs"]:
            if "field" in agg.get("params", {}):
                out.add(agg["params"]["field"])
    return out


def test_both_products_have_saved_objects():
    assert {p.parent.name for p in FILES} == {"kibana", "opensearch-dashboards"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_referenced_field_is_mapped(path):
    used = set().union(*(referenced_fields(o) for o in _objects(path)))
    assert {"published_at", "outlet", "source_credit", "language"} <= used
    assert used <= MAPPING, sorted(used - MAPPING)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_references_resolve_and_dashboard_has_the_three_charts(path):
    objs = _objects(path)
    known = {(o["type"], o["id"]) for o in objs}
    for o in objs:
        for ref in o.get("references", []):
            assert (ref["type"], ref["id"]) in known, (o["id"], ref)
        source = o["attributes"].get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
        if source and "indexRefName" in json.loads(source):
            assert any(r["name"] == json.loads(source)["indexRefName"] for r in o["references"])
    data_view = next(o for o in objs if o["type"] == "index-pattern")
    assert data_view["attributes"]["title"] == f"{EngineSettings().index_prefix}*"
    dashboard = next(o for o in objs if o["type"] == "dashboard")
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    assert len(panels) == len(dashboard["references"]) == 4
    kinds = {json.loads(o["attributes"]["visState"])["type"] for o in objs if o["type"] == "visualization"}
    assert kinds == {"histogram", "table", "pie"}
