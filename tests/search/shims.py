"""Loopback helpers for the search tests.

* :class:`TcpProxy` — forwards a loopback port to the search node; :meth:`TcpProxy.kill`
  refuses new connections and resets open ones (an engine that dies mid-request),
  :meth:`TcpProxy.revive` brings it back on the same port; :meth:`TcpProxy.freeze` holds every
  connection, open and new, without a byte forwarded for some seconds (an engine frozen in a
  long GC pause or stopped by SIGSTOP, without stopping the shared node).
* :class:`ElasticsearchShim` — makes the OpenSearch node look like Elasticsearch ``version``
  to the official ``elasticsearch`` client (its ``GET /``, the ``X-Elastic-Product`` header,
  and ``compatible-with`` media types turned into plain JSON), so the Elasticsearch path of
  ``rasd/engine.py`` runs against a real engine.  The Query DSL Rasd uses is the same on both.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class TcpProxy:
    def __init__(self, target_url: str):
        parts = urlsplit(target_url)
        self.target = (parts.hostname, parts.port or 9200)
        self.port = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thawed = threading.Event()
        self._thawed.set()
        self.revive()

    def freeze(self, seconds: float) -> None:
        """Forward nothing for ``seconds`` from now: connections are accepted (the kernel's
        backlog) and kept, requests and answers wait, then everything flows again."""
        self._thawed.clear()
        timer = threading.Timer(seconds, self._thawed.set)
        timer.daemon = True
        timer.start()

    @property
    def frozen(self) -> bool:
        return not self._thawed.is_set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def revive(self) -> None:
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", self.port))
        self.port = lst.getsockname()[1]
        lst.listen(64)
        self._listener = lst
        threading.Thread(target=self._accept, args=(lst,), daemon=True).start()

    def kill(self) -> None:
        """Stop listening and reset every open connection."""
        lst, self._listener = self._listener, None
        if lst is not None:
            try:
                lst.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            lst.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
            except OSError:
                pass

    close = kill

    def _accept(self, lst: socket.socket) -> None:
        while True:
            try:
                client, _ = lst.accept()
            except OSError:
                return
            self._thawed.wait()
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                self._thawed.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class ElasticsearchShim:
    def __init__(self, target_url: str, version: str = "9.1.0"):
        parts = urlsplit(target_url)
        target, fake = (parts.hostname, parts.port or 9200), version

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _forward(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                if self.command == "GET" and self.path.split("?")[0] == "/":
                    payload = json.dumps({"name": "shim", "cluster_name": "rasd-dev",
                                          "version": {"number": fake, "build_flavor": "default"},
                                          "tagline": "You Know, for Search"}).encode()
                    return self._reply(200, "application/json", payload)
                ctype = self.headers.get("content-type", "application/json")
                ctype = "application/x-ndjson" if "ndjson" in ctype else "application/json"
                conn = http.client.HTTPConnection(*target, timeout=60)
                conn.request(self.command, self.path, body=body,
                             headers={"content-type": ctype, "accept": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                self._reply(resp.status, resp.getheader("content-type") or "application/json", data)

            def _reply(self, status, ctype, data):
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("x-elastic-product", "Elasticsearch")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
