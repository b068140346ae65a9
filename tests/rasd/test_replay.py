"""Replay server: manifest reading, generated listings, loopback HTTP answers."""

import gzip
import time
import urllib.request
from pathlib import Path

import pytest

from rasd.replay.handler import loopback_url
from rasd.core.errors import ConfigError
from rasd.replay.server import ReplayServer, Resource, ReplaySite, load_recording, replay_outlets, url_key
from rasd.core.seeds import load_outlets

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "corpus"


def _get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.headers, r.read()


def test_manifest_pages_and_outlets():
    site, pages, unused = load_recording(CORPUS)
    assert len(pages) == 20
    assert {p.language for p in pages} == {"ar", "fa"}
    assert sum(p.language == "fa" for p in pages) == 3
    outlets = replay_outlets(pages, load_outlets())
    # hosts owned by a seeds/ outlet keep its slug; others are named after their host
    assert "euronews_arabic" in outlets and "cnn_arabic" in outlets
    assert outlets["jawharafm_net"].country == "ZZ" and outlets["assabah_com_tn"].country == "TN"
    assert outlets["khabaronline_ir"].languages == ["fa"]
    assert all(o.feeds and o.sitemaps for o in outlets.values())


def test_missing_manifest_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="MANIFEST.tsv"):
        load_recording(tmp_path)


def test_server_answers_under_original_urls_with_etag_and_gzip_sitemap():
    site, pages, _ = load_recording(CORPUS)
    page = next(p for p in pages if "youm7" in p.url)
    with ReplayServer(site) as server:
        status, headers, body = _get(loopback_url(page.url, server.base_url))
        assert status == 200 and body == page.file.read_bytes()
        etag = headers["ETag"]
        req = urllib.request.Request(loopback_url(page.url, server.base_url), headers={"If-None-Match": etag})
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req, timeout=5)
        assert exc.value.code == 304
        _, headers, gz = _get(loopback_url("https://www.youm7.com/sitemap-news.xml.gz", server.base_url))
        assert headers["Content-Type"] == "application/x-gzip"
        assert page.url.encode() in gzip.decompress(gz) or b"youm7" in gzip.decompress(gz)
        with pytest.raises(urllib.error.HTTPError) as exc:
            _get(loopback_url("https://www.youm7.com/not-recorded", server.base_url))
        assert exc.value.code == 404
    assert site.hits(page.url) == 2


def test_sequences_serve_in_turn():
    site = ReplaySite()
    site.put("https://a.example/x", [Resource(b"", "text/plain", status=429, headers={"Retry-After": "1"}),
                                     Resource(b"ok", "text/plain")])
    assert site.get(url_key("https://a.example/x")).status == 429
    assert site.get(url_key("https://a.example/x")).body == b"ok"
    assert site.get(url_key("https://a.example/x")).body == b"ok"


def test_server_refuses_non_loopback():
    with pytest.raises(ConfigError):
        ReplayServer(ReplaySite(), host="0.0.0.0")


def _manifest(directory: Path, rows: list[str]) -> None:
    header = "file\turl\toutlet\tkind\tlanguage\tcharset\tnotes\tsource\n"
    (directory / "MANIFEST.tsv").write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")


def test_rows_not_replayed_have_reasons(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "a.html").write_text("<html><body><p>خبر</p></body></html>", encoding="utf-8")
    (tmp_path / "outside.html").write_text("<p>x</p>", encoding="utf-8")
    _manifest(rec, [
        "a.html\thttps://news.example/a\tNews\tarticle\tar\tutf-8\t\t",
        "b.json\thttps://news.example/b\tNews\tarticle\tar\tutf-8\t\t",
        "../outside.html\thttps://news.example/c\tNews\tarticle\tar\tutf-8\t\t",
        "missing.html\thttps://news.example/d\tNews\tarticle\tar\tutf-8\t\t",
        "nourl.html\t\tNews\tarticle\tar\tutf-8\t\t",
    ])
    _, pages, unused = load_recording(rec)
    assert [p.url for p in pages] == ["https://news.example/a"]
    assert unused == ["b.json: not an HTML page", "../outside.html: outside the recording directory",
                      "missing.html: file missing", "nourl.html: no original URL"]


def test_a_recording_without_pages_is_an_error(tmp_path):
    _manifest(tmp_path, [])
    with pytest.raises(ConfigError, match="no replayable article pages"):
        load_recording(tmp_path)
    (tmp_path / "MANIFEST.tsv").write_bytes(b"file\turl\n\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_recording(tmp_path)


def test_clients_that_reset_their_connections_print_no_tracebacks(capfd):
    """A crawl stopped by Ctrl-C resets its connections mid-answer; socketserver's default
    printed a traceback on stderr for each (134 lines under one summary line)."""
    import socket
    import struct

    site = ReplaySite()
    site.put("https://a.example/big", Resource(b"x" * 4_000_000, "text/plain"))
    with ReplayServer(site) as server:
        path = loopback_url("https://a.example/big", server.base_url).split(str(server.port), 1)[1]
        for whole in (True, False) * 3:
            s = socket.create_connection(("127.0.0.1", server.port))
            if whole:  # reset while the answer is sent
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                s.recv(1000)
            else:  # reset while the server reads the request
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
                time.sleep(0.05)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # a reset, not a goodbye
        time.sleep(0.5)
        assert _get(loopback_url("https://a.example/big", server.base_url)) is not None  # still serving
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ConnectionResetError" not in err and "BrokenPipeError" not in err, err
    assert site.hits("https://a.example/big") == 4
