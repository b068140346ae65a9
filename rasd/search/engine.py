"""One small adapter over the search engine: Elasticsearch 8/9 or OpenSearch 2.

The rest of Rasd talks to :class:`Engine`; the Query DSL (JSON bodies) is the same on both
engines, so every method except bulk is one REST call sent through the official client's
transport (:meth:`Engine.request`), which gives connection pooling, retries, TLS and auth.

* Elasticsearch through the official ``elasticsearch`` client.  Its major version must be the
  server's (client 9 sends ``compatible-with=9`` headers that an 8.x server rejects, and it
  refuses servers that are not Elasticsearch), so :func:`connect` first asks ``GET /`` with a
  plain HTTP request and raises a one-line :class:`~rasd.core.errors.EngineError` on a mismatch.
* OpenSearch 2 through ``opensearch-py``.

``kind: auto`` picks the client from that ``GET /`` (OpenSearch: ``version.distribution``).
Neither client is a dependency of the base install: they are the extras ``rasd[opensearch]``,
``rasd[es8]`` and ``rasd[es9]``; when the one the server needs is missing, :func:`connect` raises
a one-line :class:`~rasd.core.errors.EngineError` naming the extra to install.

Errors: :class:`EngineUnavailable` (connection refused/reset, timeout, HTTP 429 or 5xx: worth
retrying later: the index follower keeps its checkpoint and tries again) and :class:`~rasd.core.errors.EngineError`
(anything else, e.g. a 400 for a bad query or a 401).  Messages never contain secrets.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rasd.core.errors import EngineError
from rasd.core.settings import EngineSettings

log = logging.getLogger(__name__)

# The client libraries log every failed request as a WARNING with a traceback; Rasd reports
# failures itself (one line, or the archive lag), so they are turned down unless configured.
for _name in ("opensearch", "elastic_transport.transport", "elastic_transport.node_pool"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.ERROR)

#: HTTP statuses after which a request may succeed later (the engine is busy or restarting).
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504, 500})


class EngineUnavailable(EngineError):
    """The engine cannot take the request now (down, unreachable, 429 or 5xx); retry later.

    ``status`` is the HTTP status, or ``None`` when no HTTP answer came back.
    """

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ServerInfo:
    """What ``GET /`` says: ``kind`` (``elasticsearch``/``opensearch``), ``version`` (``2.19.6``)."""

    kind: str
    version: str
    cluster_name: str = ""

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])


@dataclass(frozen=True)
class BulkItem:
    """One document's outcome in a bulk request: ``status`` 201 created, 409 already there,
    429/5xx retryable, other 4xx rejected; ``error_type``/``reason`` from the engine."""

    id: str
    status: int
    error_type: str | None = None
    reason: str | None = None


def redact_url(url: str) -> str:
    """``url`` without any ``user:password@`` part (for messages and logs)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


def _ssl_context(settings: EngineSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if not settings.verify_certs:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _auth_header(settings: EngineSettings, secret_getter: Callable[[str], str | None]) -> dict[str, str]:
    api_key, password = secret_getter("api_key"), secret_getter("password")
    if api_key:
        return {"Authorization": f"ApiKey {api_key}"}
    if settings.username and password is not None:
        return {"Authorization": "Basic " + base64.b64encode(f"{settings.username}:{password}".encode()).decode()}
    return {}


def probe(settings: EngineSettings, secret_getter: Callable[[str], str | None]) -> ServerInfo:
    """``GET /`` with a plain HTTP request (no client library) → :class:`ServerInfo`.

    Raises:
        EngineUnavailable: no answer, or 429/5xx.
        EngineError: 401/403 or an answer that is not an Elasticsearch/OpenSearch root document.
    """
    where = redact_url(settings.url)
    url = settings.url.rstrip("/") + "/"
    req = urllib.request.Request(url, headers={"Accept": "application/json",
                                               **_auth_header(settings, secret_getter)})
    ctx = _ssl_context(settings) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(req, timeout=settings.timeout_seconds, context=ctx) as resp:
            doc = json.load(resp)
    except urllib.error.HTTPError as exc:
        if exc.code in RETRYABLE_STATUSES:
            raise EngineUnavailable(f"search engine at {where} answered HTTP {exc.code}", exc.code) from None
        raise EngineError(f"search engine at {where} answered HTTP {exc.code} to GET / "
                          f"(check engine.username/password or api_key)") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EngineUnavailable(f"cannot reach search engine at {where}: {reason}") from None
    except ValueError:
        raise EngineError(f"{where} did not answer GET / with JSON: not a search engine?") from None
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, dict) or "number" not in version:
        raise EngineError(f"{where}: GET / has no version.number: not Elasticsearch/OpenSearch")
    kind = "opensearch" if version.get("distribution") == "opensearch" else "elasticsearch"
    return ServerInfo(kind=kind, version=str(version["number"]), cluster_name=str(doc.get("cluster_name", "")))


class Engine:
    """Rasd's view of a search engine; build it with :func:`connect`.

    ``info`` is the server's :class:`ServerInfo`; ``url`` the redacted URL.  All methods raise
    :class:`EngineUnavailable` or :class:`~rasd.core.errors.EngineError` (see the module docstring).
    """

    def __init__(self, backend: "_OpenSearchBackend | _ElasticsearchBackend", info: ServerInfo, url: str):
        self._backend = backend
        self.info = info
        self.url = url

    def request(self, method: str, path: str, body: Any = None, params: dict | None = None,
                missing_ok: bool = False) -> Any:
        """One REST call: ``request("GET", "/_cluster/health")`` → the decoded JSON answer;
        with ``missing_ok``, ``None`` for a 404 instead of an error."""
        return self._backend.request(method, path, body=body, params=params, missing_ok=missing_ok)

    def put_index_template(self, name: str, body: dict) -> None:
        """Create or replace the composable index template ``name`` (``PUT _index_template``)."""
        self.request("PUT", f"/_index_template/{_q(name)}", body)

    def exists(self, name: str) -> bool:
        """Whether an index or alias ``name`` exists (``HEAD /name``)."""
        return self.request("HEAD", f"/{_q(name)}", missing_ok=True) is not None

    def create_index(self, name: str, body: dict | None = None) -> None:
        """``PUT /name`` (settings/mappings come from the matching template)."""
        self.request("PUT", f"/{_q(name)}", body or {})

    def delete_index(self, name: str) -> bool:
        """Delete index ``name``; ``False`` if it did not exist."""
        return self.request("DELETE", f"/{_q(name)}", missing_ok=True) is not None

    def alias_indices(self, alias: str) -> dict[str, bool]:
        """``{index: is_write_index}`` for every index behind ``alias`` (``{}`` if none)."""
        doc = self.request("GET", f"/_alias/{_q(alias)}", missing_ok=True) or {}
        return {index: bool(v.get("aliases", {}).get(alias, {}).get("is_write_index", False))
                for index, v in doc.items()}

    def update_aliases(self, actions: list[dict]) -> None:
        """Atomic ``POST /_aliases`` with ``actions`` (``[{"add": {...}}, {"remove": {...}}]``)."""
        self.request("POST", "/_aliases", {"actions": actions})

    def refresh(self, index: str) -> None:
        self.request("POST", f"/{_q(index)}/_refresh")
    def bulk_create(self, index: str, docs: Sequence[tuple[str, dict]],
                    require_alias: bool = False) -> list[BulkItem]:
        """Index ``docs`` (``(id, source)``; source a dict or JSON bytes) with ``op_type: create``
        in one request.

        Returns one :class:`BulkItem` per input, in order.  An existing id gives status 409
        (the document is not overwritten); with ``require_alias``, a missing alias gives 404
        (instead of auto-creating an index without Rasd's mapping).

        Raises:
            EngineUnavailable: the request as a whole failed (no answer, 429, 5xx); any item
                may or may not have been written.
        """
        return self.bulk([("create", index, doc_id, source) for doc_id, source in docs], require_alias)

    def bulk(self, ops: Sequence[tuple], require_alias: bool = False) -> list[BulkItem]:
        """One ``_bulk`` request of ``ops``: ``(action, index, id, body)`` or ``(action, index,
        id, body, require_alias)`` with action ``create`` (body: the source, a dict or JSON bytes)
        or ``update`` (body: the partial document).  ``require_alias`` (per op, default the
        argument): ``index`` must be an alias, else the op fails with 404
        ``index_not_found_exception`` instead of auto-creating an index (which an ``update``
        does too).  Returns one :class:`BulkItem` per op, in order (``update`` of a missing
        document: 404 ``document_missing_exception``).

        Raises:
            EngineUnavailable: the request as a whole failed; any op may or may not have applied.
        """
        if not ops:
            return []
        lines = []
        for op in ops:
            action, index, doc_id, body = op[:4]
            alias_only = op[4] if len(op) > 4 else require_alias
            flag = ',"require_alias":true' if alias_only else ""
            lines.append(f'{{"{action}":{{"_index":{json.dumps(index)},"_id":{json.dumps(doc_id)}{flag}}}}}'.encode())
            payload = body if isinstance(body, bytes) else json.dumps(
                body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            lines.append(b'{"doc":' + payload + b"}" if action == "update" else payload)
        answer = self._backend.bulk(b"\n".join(lines) + b"\n", None)
        items = answer.get("items") or []
        if len(items) != len(ops):
            raise EngineError(f"bulk answer has {len(items)} items for {len(ops)} operations")
        out = []
        for op, item in zip(ops, items):
            doc_id = op[2]
            result = next(iter(item.values()))
            error = result.get("error")
            error = error if isinstance(error, dict) or error is None else {"type": "error", "reason": error}
            out.append(BulkItem(doc_id, int(result.get("status", 0)), error and error.get("type"),
                                error and str(error.get("reason", ""))[:300]))
        return out

    def count(self, index: str, query: dict | None = None) -> int:
        return int(self.request("POST", f"/{_q(index)}/_count", {"query": query} if query else None)["count"])

    def search(self, index: str, body: dict) -> dict:
        """``POST /index/_search`` with a Query DSL ``body``; the raw answer."""
        return self.request("POST", f"/{_q(index)}/_search", body)

    def ids_present(self, index: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` exist in ``index`` or, for an alias, in any index behind it.

        Uses ``_mget`` (real-time: sees documents written since the last refresh).
        """
        return set(self.locate(index, ids))

    def locate(self, index: str, ids: Sequence[str]) -> dict[str, str]:
        """``{id: concrete index}`` for those of ``ids`` that exist in ``index`` or, for an
        alias, in any index behind it (``_mget``, real-time)."""
        if not ids:
            return {}
        targets = list(self.alias_indices(index)) or [index]
        docs = [{"_index": t, "_id": i} for t in targets for i in ids]
        answer = self.request("POST", "/_mget", {"docs": docs}, params={"_source": "false"})
        return {d["_id"]: d["_index"] for d in answer["docs"] if d.get("found")}

    def analyze(self, index: str, text: str, analyzer: str | None = None,
                field: str | None = None) -> list[str]:
        """Tokens of ``text`` with ``analyzer`` or ``field``'s analyzer in ``index``."""
        body: dict[str, Any] = {"text": text}
        if analyzer:
            body["analyzer"] = analyzer
        if field:
            body["field"] = field
        return [t["token"] for t in self.request("POST", f"/{_q(index)}/_analyze", body)["tokens"]]

    def close(self) -> None:
        self._backend.close()


def _q(name: str) -> str:
    return urllib.parse.quote(name, safe=",*")


def _api_error(where: str, method: str, path: str, status: int | None, body: Any) -> EngineError:
    """Turn an HTTP error answer into a one-line error (status kept in ``.status``)."""
    reason = ""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            causes = err.get("root_cause") or []
            cause = causes[0] if causes and isinstance(causes[0], dict) else err
            reason = f"{cause.get('type', '')}: {cause.get('reason', '')}"
        elif err:
            reason = str(err)
    reason = reason or str(body)[:200]
    msg = f"search engine {where}: {method} {path} → HTTP {status}: {reason}"
    if status is None or status in RETRYABLE_STATUSES:
        return EngineUnavailable(msg, status)
    exc = EngineError(msg)
    exc.status = status  # type: ignore[attr-defined]
    return exc


class _OpenSearchBackend:
    """opensearch-py behind ``request``/``bulk``/``close`` (the same trio as below)."""

    def __init__(self, settings: EngineSettings, secret_getter):
        from opensearchpy import OpenSearch

        self.where = redact_url(settings.url)
        kwargs: dict[str, Any] = {"timeout": settings.timeout_seconds, "max_retries": 2,
                                  "retry_on_timeout": False, "verify_certs": settings.verify_certs,
                                  "ssl_show_warn": False, "headers": _auth_header(settings, secret_getter)}
        if settings.ca_file:
            kwargs["ca_certs"] = str(settings.ca_file)
        self.client = OpenSearch(hosts=[settings.url], **kwargs)

    def _call(self, method: str, path: str, fn):
        from opensearchpy import exceptions as oe

        try:
            return fn()
        except (oe.ConnectionError, oe.ConnectionTimeout) as exc:
            raise EngineUnavailable(f"cannot reach search engine at {self.where}: "
                                    f"{type(exc).__name__}") from None
        except oe.TransportError as exc:
            status = exc.status_code if isinstance(exc.status_code, int) else None
            raise _api_error(self.where, method, path, status, exc.info) from None

    def request(self, method, path, body=None, params=None, missing_ok=False):
        answer = self._call(method, path, lambda: self.client.transport.perform_request(
            method, path, params=params, body=body, ignore=(404,) if missing_ok else ()))
        if method == "HEAD":
            return True if answer else None
        if missing_ok and isinstance(answer, dict) and answer.get("status") == 404 and "error" in answer:
            return None
        return answer

    def bulk(self, payload: bytes, params: dict | None = None) -> dict:
        return self._call("POST", "/_bulk", lambda: self.client.bulk(body=payload, params=params))

    def close(self) -> None:
        self.client.close()


class _ElasticsearchBackend:
    _JSON = {"accept": "application/json", "content-type": "application/json"}

    def __init__(self, settings: EngineSettings, secret_getter):
        from elasticsearch import Elasticsearch

        self.where = redact_url(settings.url)
        kwargs: dict[str, Any] = {"request_timeout": settings.timeout_seconds, "max_retries": 2,
                                  "verify_certs": settings.verify_certs, "ssl_show_warn": False}
        api_key, password = secret_getter("api_key"), secret_getter("password")
        if api_key:
            kwargs["api_key"] = api_key
        elif settings.username and password is not None:
            kwargs["basic_auth"] = (settings.username, password)
        if settings.ca_file:
            kwargs["ca_certs"] = str(settings.ca_file)
        self.client = Elasticsearch(settings.url, **kwargs)

    def _call(self, method: str, path: str, fn):
        import elastic_transport
        from elasticsearch import ApiError

        try:
            return fn()
        except ApiError as exc:
            raise _api_error(self.where, method, path, exc.meta.status, exc.body) from None
        except elastic_transport.TransportError as exc:
            raise EngineUnavailable(f"cannot reach search engine at {self.where}: "
                                    f"{type(exc).__name__}") from None

    def request(self, method, path, body=None, params=None, missing_ok=False):
        headers = self._JSON if body is not None else {"accept": "application/json"}
        client = self.client.options(ignore_status=404) if missing_ok else self.client
        resp = self._call(method, path, lambda: client.perform_request(
            method, path, params=params, headers=headers, body=body))
        if resp.meta.status == 404:
            return None
        return resp.body if method != "HEAD" else True

    def bulk(self, payload: bytes, params: dict | None = None) -> dict:
        return self._call("POST", "/_bulk", lambda: self.client.bulk(
            operations=payload, require_alias=bool(params))).body

    def close(self) -> None:
        self.client.close()


def _require(module: str, message: str):
    """Import the client ``module``, or raise :class:`~rasd.core.errors.EngineError` with
    ``message`` (one line naming the extra) when it is not installed."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise EngineError(message) from None


def connect(settings: EngineSettings, secret_getter: Callable[[str], str | None]) -> Engine:
    """An :class:`Engine` for ``settings`` (``secret_getter`` is ``RasdSettings.secret``).

    Asks ``GET /`` first (see :func:`probe`); with ``kind`` forced, a server of the other kind
    is an error.

    Raises:
        EngineUnavailable: the server does not answer.
        EngineError: wrong kind, the client the server needs is not installed (the message
            names the extra: ``pip install 'rasd[opensearch]'``, ``'rasd[es8]'``, ``'rasd[es9]'``),
            or the installed ``elasticsearch`` client's major version is not the server's.
    """
    info = probe(settings, secret_getter)
    where = redact_url(settings.url)
    if settings.kind != "auto" and settings.kind != info.kind:
        raise EngineError(f"engine.kind is {settings.kind} but {where} is {info.kind} {info.version}")
    if info.kind == "opensearch":
        if info.major < 2:
            raise EngineError(f"{where}: OpenSearch {info.version} is not supported (need 2.x)")
        _require("opensearchpy", f"{where} runs OpenSearch {info.version} but the opensearch-py client "
                                 "is not installed; install it: pip install 'rasd[opensearch]'")
        backend: Any = _OpenSearchBackend(settings, secret_getter)
    else:
        if info.major not in (8, 9):
            raise EngineError(f"{where}: Elasticsearch {info.version} is not supported (need 8.x or 9.x)")
        extra = f"pip install 'rasd[es{info.major}]' (the elasticsearch>={info.major},<{info.major + 1} client)"
        elasticsearch = _require("elasticsearch", f"{where} runs Elasticsearch {info.version} but the "
                                                  f"elasticsearch client is not installed; install it: {extra}")
        if elasticsearch.__version__[0] != info.major:
            raise EngineError(
                f"{where} runs Elasticsearch {info.version} but the installed elasticsearch client is "
                f"{elasticsearch.__versionstr__}; install the matching one: {extra}")
        backend = _ElasticsearchBackend(settings, secret_getter)
    log.info("engine=%s version=%s url=%s", info.kind, info.version, where)
    return Engine(backend, info, where)
