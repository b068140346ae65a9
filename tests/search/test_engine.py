"""Tests for rasd/engine.py: server detection, client/server version check, both client paths."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import elasticsearch
import pytest

from rasd.search.indexing import index_articles
from rasd.search.engine import EngineUnavailable, connect, probe, redact_url
from rasd.core.errors import EngineError
from rasd.search.articles import build_query, init_index
from tests.search.conftest import ENGINE_URL, drop_prefix, engine_settings, no_secret, sample_records
from tests.search.shims import ElasticsearchShim


class _Root:
    """A loopback server answering GET / with ``doc`` and recording the request headers."""

    def __init__(self, doc: dict | str, status: int = 200):
        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                seen.append(dict(self.headers))
                body = (doc if isinstance(doc, str) else json.dumps(doc)).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_probe_detects_opensearch_and_elasticsearch():
    with _Root({"version": {"number": "2.19.6", "distribution": "opensearch"}}) as srv:
        info = probe(engine_settings(srv.url), no_secret)
    assert (info.kind, info.major) == ("opensearch", 2)
    with _Root({"version": {"number": "8.15.1", "build_flavor": "default"}}) as srv:
        assert probe(engine_settings(srv.url), no_secret).kind == "elasticsearch"


def test_client_major_mismatch_is_one_clear_error():
    other = 8 if elasticsearch.__version__[0] != 8 else 9
    with _Root({"version": {"number": f"{other}.15.1"}}) as srv:
        with pytest.raises(EngineError) as exc:
            connect(engine_settings(srv.url), no_secret)
    msg = str(exc.value)
    assert f"Elasticsearch {other}.15.1" in msg and elasticsearch.__versionstr__ in msg
    assert f"pip install 'rasd[es{other}]' (the elasticsearch>={other},<{other + 1} client)" in msg
    assert "\n" not in msg


def test_forced_kind_must_match_server():
    with _Root({"version": {"number": "2.19.6", "distribution": "opensearch"}}) as srv:
        with pytest.raises(EngineError, match="engine.kind is elasticsearch"):
            connect(engine_settings(srv.url, kind="elasticsearch"), no_secret)


def test_not_a_search_engine():
    with _Root({"hello": "world"}) as srv:
        with pytest.raises(EngineError, match="no version.number"):
            probe(engine_settings(srv.url), no_secret)


def test_unreachable_is_engine_unavailable():
    with pytest.raises(EngineUnavailable, match="cannot reach"):
        connect(engine_settings(f"http://127.0.0.1:{_unused_port()}"), no_secret)


def test_503_is_unavailable_and_401_is_not():
    with _Root({"error": "busy"}, status=503) as srv:
        with pytest.raises(EngineUnavailable):
            probe(engine_settings(srv.url), no_secret)
    with _Root({"error": "nope"}, status=401) as srv:
        with pytest.raises(EngineError) as exc:
            probe(engine_settings(srv.url), no_secret)
        assert not isinstance(exc.value, EngineUnavailable)


def test_auth_header_sent_and_secret_never_in_messages():
    secrets = {"password": "s3cr3t-pw", "api_key": None}
    with _Root({"error": "denied"}, status=401) as srv:
        with pytest.raises(EngineError) as exc:
            probe(engine_settings(srv.url, username="rasd"), secrets.get)
        assert srv.seen[0]["Authorization"].startswith("Basic ")
    assert "s3cr3t" not in str(exc.value)
    with _Root({"error": "denied"}, status=401) as srv:
        with pytest.raises(EngineError):
            probe(engine_settings(srv.url), {"api_key": "KEY123"}.get)
        assert srv.seen[0]["Authorization"] == "ApiKey KEY123"


def test_redact_url():
    assert redact_url("https://elastic:pw@es.example:9243/") == "https://es.example:9243/"
    assert redact_url("http://127.0.0.1:9200") == "http://127.0.0.1:9200"


@pytest.mark.search
def test_opensearch_path(engine):
    assert engine.info.kind == "opensearch"
    assert engine.request("GET", "/_cluster/health")["status"] in ("green", "yellow")


@pytest.mark.search
def test_elasticsearch_client_path_against_shim(engine):
    """The elasticsearch-py backend end to end (template, bulk create, 409s, search), through a
    shim that presents the node as Elasticsearch of the installed client's major version."""
    shim = ElasticsearchShim(ENGINE_URL, version=f"{elasticsearch.__version__[0]}.1.0")
    prefix = "rasd-test-esclient"
    try:
        es = connect(engine_settings(shim.url), no_secret)
        assert es.info.kind == "elasticsearch"
        assert type(es._backend).__name__ == "_ElasticsearchBackend"
        drop_prefix(es, prefix)
        assert init_index(es, prefix).created
        assert es.exists(prefix) and not es.exists(prefix + "-nope")
        recs = sample_records()
        assert index_articles(es, recs, index=prefix).indexed == len(recs)
        again = index_articles(es, recs, index=prefix)
        assert (again.indexed, again.already_indexed) == (0, len(recs))
        es.refresh(prefix)
        assert es.count(prefix) == len(recs)
        hits = es.search(prefix, build_query("مسئول", languages=["ar"]))["hits"]["hits"]
        assert recs[0]["id"] in {h["_id"] for h in hits}  # the seed story, written مسؤولون
        with pytest.raises(EngineError, match="HTTP 400"):
            es.search(prefix, {"query": {"no_such_query": {}}})
        es.close()
    finally:
        drop_prefix(engine, prefix)
        shim.close()


def _rasd_without(module: str, url: str, *args: str):
    """``rasd *args`` in a child process where importing ``module`` fails as if it were not
    installed (``sys.modules[module] = None`` before Rasd is imported), against ``url``."""
    import os
    import subprocess
    import sys

    code = (f"import sys; sys.modules[{module!r}] = None; sys.argv = ['rasd', *{list(args)!r}]; "
            "from rasd.cli.main import main; main()")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RASD_ENGINE")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**env, "RASD_ENGINE__URL": url})


@pytest.mark.search
def test_missing_opensearch_client_is_one_line_naming_the_extra(engine):
    proc = _rasd_without("opensearchpy", ENGINE_URL, "search", "مسئول")
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line == (f"rasd: {ENGINE_URL} runs OpenSearch {engine.info.version} but the opensearch-py "
                    "client is not installed; install it: pip install 'rasd[opensearch]'")


@pytest.mark.search
def test_missing_elasticsearch_client_is_one_line_naming_the_extra(engine):
    shim = ElasticsearchShim(ENGINE_URL, version="8.19.0")
    try:
        proc = _rasd_without("elasticsearch", shim.url, "search", "مسئول")
    finally:
        shim.close()
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line == (f"rasd: {shim.url} runs Elasticsearch 8.19.0 but the elasticsearch client is not "
                    "installed; install it: pip install 'rasd[es8]' (the elasticsearch>=8,<9 client)")


def test_the_base_install_needs_no_search_client():
    """pyproject: neither client is a base dependency; each is an extra; the test extra pulls
    what the tests import (opensearch-py through rasd[opensearch], and an elasticsearch client)."""
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    names = [d.split(">")[0].split("=")[0].split("<")[0].strip() for d in project["dependencies"]]
    assert "opensearch-py" not in names and "elasticsearch" not in names
    extras = project["optional-dependencies"]
    assert extras["opensearch"] == ["opensearch-py>=2.4"]
    assert extras["es8"] == ["elasticsearch>=8,<9"] and extras["es9"] == ["elasticsearch>=9,<10"]
    assert "rasd[opensearch]" in extras["test"] and "elasticsearch>=8,<10" in extras["test"]
