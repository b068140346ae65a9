"""The Kibana and OpenSearch Dashboards saved objects (config/kibana, config/opensearch-dashboards)
follow each product's export format, reference only objects in their file and only use fields
that exist in the index mapping.

No Kibana or OpenSearch Dashboards can run here, so these are checks against the documented
export formats, not imports into a live instance (docs/kibana.md says so).  The version fields
come from the products' sources:

* Kibana 8.x/9.x exports: every object has ``coreMigrationVersion``, ``typeMigrationVersion``
  (the last migration of its type whose shape the object is in: data views ``8.0.0``, the
  multi-namespace conversion after the ``7.11.0`` migration; Lens ``8.6.0``, when the datasource
  became ``formBased``; saved searches and aggregation-based visualizations ``8.0.0``;
  dashboards ``8.7.0``, as Kibana's own sample dashboards) and ``managed``; Kibana migrates an
  older version forward on import and refuses a newer one, so these import into 8.8 and later.
* OpenSearch Dashboards 2.x (forked from Kibana 7.10.2): ``migrationVersion`` ``{type: version}``
  with the last migration of each type (index-pattern 7.6.0, search 7.9.3, visualization 7.10.0,
  dashboard 7.9.3), no core/type migration fields.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rasd.core.settings import EngineSettings
from rasd.search.articles import build_template, mapped_fields

ROOT = Path(__file__).resolve().parents[2]
KIBANA = ROOT / "config" / "kibana" / "rasd.ndjson"
DASHBOARDS = ROOT / "config" / "opensearch-dashboards" / "rasd.ndjson"
FILES = [KIBANA, DASHBOARDS]
MAPPING = mapped_fields(build_template(EngineSettings().index_prefix)["template"]["mappings"])

KIBANA_CORE = "8.8.0"
KIBANA_TYPES = {"index-pattern": "8.0.0", "search": "8.0.0", "lens": "8.6.0", "visualization": "8.0.0",
                "dashboard": "8.7.0"}
DASHBOARDS_TYPES = {"index-pattern": "7.6.0", "search": "7.9.3", "visualization": "7.10.0", "dashboard": "7.9.3"}
#: visualization types drawn by the legacy vislib charts library (Kibana: replaced by Lens)
VISLIB = {"histogram", "horizontal_bar", "line", "area", "heatmap", "gauge", "goal"}
LENS_RECORDS = "___records___"  # Lens's pseudo-field of a count


def _objects(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and all(line.strip() for line in lines[:-1]), "one object per line, no blank lines"
    return [json.loads(line) for line in lines[:-1]]


def _panels(dashboard: dict) -> list[dict]:
    return json.loads(dashboard["attributes"]["panelsJSON"])


def referenced_fields(obj: dict) -> set[str]:
    """Field names an object uses: the data view's time field, field formats, attributes and
    source filters; saved-search columns and sort; aggregation fields of visualizations; the
    ``sourceField`` of every Lens column."""
    attrs, out = obj["attributes"], set()
    if obj["type"] == "index-pattern":
        out.add(attrs["timeFieldName"])
        out.update(json.loads(attrs.get("fieldFormatMap", "{}")))
        out.update(json.loads(attrs.get("fieldAttrs", "{}")))
        out.update(f["value"] for f in json.loads(attrs.get("sourceFilters", "[]")))
    if obj["type"] == "search":
        out.update(attrs["columns"])
        out.update(field for field, _ in attrs["sort"])
    if obj["type"] == "visualization":
        for agg in json.loads(attrs["visState"])["aggs"]:
            if "field" in agg.get("params", {}):
                out.add(agg["params"]["field"])
    if obj["type"] == "lens":
        for layer in attrs["state"]["datasourceStates"]["formBased"]["layers"].values():
            out.update(c["sourceField"] for c in layer["columns"].values() if c.get("sourceField") != LENS_RECORDS)
    return out


def test_both_products_have_the_same_six_objects():
    kinds = {p: {o["id"] for o in _objects(p)} for p in FILES}
    assert kinds[KIBANA] == kinds[DASHBOARDS] == {
        "rasd-articles", "rasd-latest-articles", "rasd-articles-per-outlet", "rasd-top-sources",
        "rasd-languages", "rasd-overview"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name)
def test_every_referenced_field_is_mapped(path):
    used = set().union(*(referenced_fields(o) for o in _objects(path)))
    assert {"published_at", "outlet", "source_credit", "language", "url"} <= used
    assert used <= MAPPING, sorted(used - MAPPING)


def test_kibana_objects_are_in_the_8x_9x_export_format():
    for obj in _objects(KIBANA):
        assert set(obj) == {"id", "type", "attributes", "references", "coreMigrationVersion",
                            "typeMigrationVersion", "managed"}, obj["id"]
        assert obj["coreMigrationVersion"] == KIBANA_CORE and obj["managed"] is False
        assert obj["typeMigrationVersion"] == KIBANA_TYPES[obj["type"]], obj["id"]
        assert re.fullmatch(r"\d+\.\d+\.\d+", obj["typeMigrationVersion"])
        assert all(set(r) == {"name", "type", "id"} for r in obj["references"])
    data_view = next(o for o in _objects(KIBANA) if o["type"] == "index-pattern")
    attrs = data_view["attributes"]
    # Kibana 8 keeps no field list in the saved object (fields come from the mapping): "[]"
    assert attrs["fields"] == "[]" and attrs["runtimeFieldMap"] == "{}" and attrs["name"] == "Rasd articles"
    for key in ("fieldFormatMap", "fieldAttrs", "runtimeFieldMap", "sourceFilters", "typeMeta", "fields"):
        assert isinstance(json.loads(attrs[key]), (dict, list)), key  # JSON in strings, as exported


def test_opensearch_dashboards_objects_are_in_their_export_format():
    for obj in _objects(DASHBOARDS):
        assert set(obj) == {"id", "type", "attributes", "references", "migrationVersion"}, obj["id"]
        assert obj["migrationVersion"] == {obj["type"]: DASHBOARDS_TYPES[obj["type"]]}
    data_view = next(o for o in _objects(DASHBOARDS) if o["type"] == "index-pattern")
    assert "fields" not in data_view["attributes"]  # 7.10-style: absent makes Dashboards read the mapping


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name)
def test_references_resolve_to_objects_in_the_file(path):
    objs = _objects(path)
    known = {(o["type"], o["id"]) for o in objs}
    assert len(known) == len(objs)
    for o in objs:
        names = [r["name"] for r in o["references"]]
        assert len(names) == len(set(names)), o["id"]
        for ref in o["references"]:
            assert (ref["type"], ref["id"]) in known, (o["id"], ref)
        source = o["attributes"].get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
        if source and "indexRefName" in json.loads(source):
            assert json.loads(source)["indexRefName"] in names
        if o["type"] == "lens":
            for layer_id in o["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]:
                assert f"indexpattern-datasource-layer-{layer_id}" in names
    data_view = next(o for o in objs if o["type"] == "index-pattern")
    assert data_view["id"] == "rasd-articles"
    assert data_view["attributes"]["title"] == f"{EngineSettings().index_prefix}*"
    assert data_view["attributes"]["timeFieldName"] == "published_at"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name)
def test_every_dashboard_panel_resolves_to_one_reference(path):
    objs = _objects(path)
    dashboard = next(o for o in objs if o["type"] == "dashboard")
    refs = {r["name"]: r for r in dashboard["references"]}
    panels = _panels(dashboard)
    assert len(panels) == len(refs) == 4
    assert len({p["panelIndex"] for p in panels}) == 4
    for panel in panels:
        assert panel["gridData"]["i"] == panel["panelIndex"]
        if path == KIBANA:  # 8.x: "<panelIndex>:panel_<panelIndex>", the panel's type alongside
            ref = refs[f"{panel['panelIndex']}:{panel['panelRefName']}"]
            assert panel["type"] == ref["type"] and panel["version"] == KIBANA_CORE
        else:
            ref = refs[panel["panelRefName"]]
        assert ref["type"] in ("lens", "visualization", "search")


def test_kibana_dashboard_shows_articles_per_outlet_per_day_in_lens_and_no_vislib_chart():
    objs = {o["id"]: o for o in _objects(KIBANA)}
    dashboard = objs["rasd-overview"]
    lens_ids = {r["id"] for r in dashboard["references"] if r["type"] == "lens"}
    assert lens_ids == {"rasd-articles-per-outlet"}
    lens = objs["rasd-articles-per-outlet"]["attributes"]
    assert lens["visualizationType"] == "lnsXY"
    [layer] = lens["state"]["visualization"]["layers"]
    columns = lens["state"]["datasourceStates"]["formBased"]["layers"][layer["layerId"]]["columns"]
    x, split = columns[layer["xAccessor"]], columns[layer["splitAccessor"]]
    [count] = [columns[a] for a in layer["accessors"]]
    assert (x["operationType"], x["sourceField"], x["params"]["interval"]) == ("date_histogram", "published_at", "1d")
    assert (split["operationType"], split["sourceField"]) == ("terms", "outlet")
    assert count["operationType"] == "count" and layer["seriesType"] == "bar_stacked"
    assert lens["state"]["query"] == {"query": "", "language": "lucene"}
    for o in objs.values():
        if o["type"] == "visualization":
            state = json.loads(o["attributes"]["visState"])
            assert state["type"] not in VISLIB and not state["params"].get("isVislibVis"), o["id"]
    assert "7.10.2" not in KIBANA.read_text(encoding="utf-8")


def test_dashboards_keep_the_aggregation_based_charts():
    """OpenSearch Dashboards has no Lens: the same chart as an aggregation-based visualization."""
    objs = _objects(DASHBOARDS)
    kinds = {json.loads(o["attributes"]["visState"])["type"] for o in objs if o["type"] == "visualization"}
    assert kinds == {"histogram", "table", "pie"}
    per_day = next(o for o in objs if o["id"] == "rasd-articles-per-outlet")
    aggs = {a["type"]: a["params"] for a in json.loads(per_day["attributes"]["visState"])["aggs"]}
    assert aggs["date_histogram"]["interval"] == "d" and aggs["terms"]["field"] == "outlet"
