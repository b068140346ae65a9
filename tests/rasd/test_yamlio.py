"""rasd.core.yamlio: libyaml's parser for speed, the same values as PyYAML's pure-Python one."""

from __future__ import annotations

import pytest
import yaml

from rasd.core.paths import CONFIG_DIR, SEEDS_DIR
from rasd.core.yamlio import SafeLoader, safe_load


def test_the_c_parser_is_used_where_pyyaml_has_it():
    assert SafeLoader is getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if yaml.__with_libyaml__:
        assert SafeLoader is yaml.CSafeLoader


@pytest.mark.parametrize("path", sorted([*CONFIG_DIR.rglob("*.yaml"), *SEEDS_DIR.glob("*.yaml")]),
                         ids=lambda p: p.name)
def test_every_shipped_file_reads_the_same_as_with_the_pure_python_parser(path):
    text = path.read_text(encoding="utf-8")
    assert safe_load(text) == yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506


def test_a_refused_document_names_line_and_shows_the_line():
    with pytest.raises(yaml.YAMLError) as err:
        safe_load("name: ok\nfeeds: [unclosed\n")
    message = str(err.value)
    assert "line 3" in message or "line 2" in message
    assert "feeds: [unclosed" in message and "^" in message
