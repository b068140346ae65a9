"""The web app (Starlette): :func:`create_app` builds it from the settings.

Pages (GET): ``/search`` (also ``/search.csv``, ``/search.atom``), ``/story/{story_id}``,
``/alerts``, ``/alerts/new``, ``/alerts/{name}``, ``/alerts/{name}/edit``, ``/outbox``,
``/outlets``, ``/login``, ``/lang/{ar|en}``.  Forms (POST, each with the CSRF token):
``/alerts/form`` (``action`` = ``save`` | ``preview`` | ``test:<channel>``), ``/alerts/validate``
and ``/alerts/preview`` (HTML fragments for the live check and preview),
``/alerts/{name}/pause|resume|delete``, ``/outbox/{seq}/retry|drop``, ``/login``, ``/logout``.

The engine connection is made on first use and made again after a failure; the alert store
(``<data-dir>/alerts.sqlite``) is opened per request.  Blocking work (engine, SQLite, channels)
runs in Starlette's thread pool.  Who may do what: :mod:`rasd.web.auth`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from rasd.core.errors import ConfigError, EngineError, RasdError
from rasd.web import auth
from rasd.web.i18n import LANGS, problem_text, translator
from rasd.web.views import kibana_discover, marked, text_diff, times, to_atom, to_csv

HERE = Path(__file__).resolve().parent
PREVIEW_DAYS = (7, 30)
CHANNEL_NAMES = ("webhook", "email", "atom", "apprise")


class _State:
    """What every request shares: settings, the engine (lazy), the catalog (cached 60 s)."""

    def __init__(self, settings, connect):
        self.settings, self._connect = settings, connect
        self._engine = None
        self._catalog: tuple[float, Any] | None = None
        self._alerts_index = False
        self._lock = threading.Lock()

    @property
    def prefix(self) -> str:
        return self.settings.engine.index_prefix

    def engine(self):
        with self._lock:
            if self._engine is None:
                self._engine = self._connect()
            return self._engine

    def reset(self) -> None:
        with self._lock:
            self._engine = None

    def catalog(self):
        from rasd.alerts.checks import catalog_for

        now = time.monotonic()
        if self._catalog is None or now - self._catalog[0] > 60:
            try:
                engine = self.engine()
            except EngineError:
                engine = None
            self._catalog = (now, catalog_for(self.settings, engine))
        return self._catalog[1]

    def alerts_index(self) -> None:
        from rasd.alerts.match import init_alerts_index

        if not self._alerts_index:
            init_alerts_index(self.engine(), self.prefix)
            self._alerts_index = True

    def store(self):
        from rasd.alerts.outbox import AlertStore

        return AlertStore(Path(self.settings.data_dir) / "alerts.sqlite")


# --- request plumbing -----------------------------------------------------------------------


class _Guard(BaseHTTPMiddleware):
    """Language, user and security headers on every request (see :mod:`rasd.web.auth`)."""

    async def dispatch(self, request: Request, call_next):
        state: _State = request.app.state.rasd
        web = state.settings.web
        lang = request.cookies.get("lang")
        request.state.lang = lang if lang in LANGS else "ar"
        path = request.url.path
        public = path.startswith("/static/") or path in ("/login", "/favicon.ico") or path.startswith("/lang/")
        allowed, user = auth.request_user(web, request)
        request.state.user = user
        if not allowed and not public:
            if web.auth == "password":
                response = RedirectResponse("/login?" + urlencode({"next": _local(str(request.url.path))}), 303)
            else:
                response = PlainTextResponse("forbidden: sign in through the authenticating proxy", 403)
        else:
            response = await call_next(request)
        for k, v in auth.SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if not path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def _local(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site (``/…``, not ``//host``), else ``default``."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["marked"] = marked
    env.filters["http"] = _http_url
    return env


def _http_url(url: str | None) -> str | None:
    """``url`` when it is an http(s) URL (a crawled ``javascript:`` URL never becomes a link)."""
    return url if url and urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc else None


def _ctx(request: Request, **extra) -> dict:
    state: _State = request.app.state.rasd
    lang = request.state.lang
    return {"request": request, "t": translator(lang), "lang": lang, "dir": "rtl" if lang == "ar" else "ltr",
            "user": request.state.user, "auth": state.settings.web.auth,
            "csrf": auth.csrf_token(request.session), "zone": state.settings.web.timezone,
            "times": lambda v: times(v, state.settings.web.timezone), **extra}


def _page(request: Request, template: str, status: int = 200, **extra) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, _ctx(request, **extra), status_code=status)


def _error(request: Request, message: str, status: int) -> HTMLResponse:
    return _page(request, "error.html", status=status, message=message)


async def _form(request: Request):
    """The POSTed form, or ``None`` when its CSRF token is not the session's."""
    form = await request.form()
    if not auth.check_csrf(request.session, form.get("csrf") or request.headers.get("X-CSRF-Token")):
        return None
    return form


def _engine_error(request: Request, exc: Exception) -> HTMLResponse:
    request.app.state.rasd.reset()
    from rasd.search.articles import NoIndexError

    key = "no_index" if isinstance(exc, NoIndexError) else "engine_down"
    return _error(request, translator(request.state.lang)(key, e=str(exc)), 503)


# --- search -----------------------------------------------------------------------------------


def _search_params(request: Request) -> dict:
    p = request.query_params
    clean = lambda xs: [x for x in xs if x]  # noqa: E731
    try:
        page = max(1, min(500, int(p.get("page") or 1)))
    except ValueError:
        page = 1
    since, until = (p.get("since") or "").strip(), (p.get("until") or "").strip()
    return {"q": (p.get("q") or "").strip(), "outlets": clean(p.getlist("outlet")),
            "languages": clean(p.getlist("lang")), "topics": clean(p.getlist("topic")),
            "since": since, "until": until, "sort": p.get("sort") if p.get("sort") in ("relevance", "newest") else "",
            "page": page}


def _search_options(params: dict) -> dict:
    until = params["until"]
    if len(until) == 10:  # a day from <input type=date>: the whole day
        until += "T23:59:59Z"
    sort = params["sort"] or ("relevance" if params["q"] not in ("", "*") else "newest")
    return {"outlets": params["outlets"] or None, "languages": params["languages"] or None,
            "topics": params["topics"] or None, "since": params["since"] or None, "until": until or None,
            "sort": sort}


def _query_string(params: dict, **change) -> str:
    merged = {**params, **change}
    pairs = [("q", merged["q"])] + [("outlet", o) for o in merged["outlets"]] + \
            [("lang", x) for x in merged["languages"]] + [("topic", x) for x in merged["topics"]] + \
            [("since", merged["since"]), ("until", merged["until"]), ("sort", merged["sort"]),
             ("page", str(merged["page"]))]
    return urlencode([(k, v) for k, v in pairs if v and not (k == "page" and v == "1")])


async def search_page(request: Request):
    from rasd.alerts.checks import value_problems
    from rasd.search.articles import search_stories
    from rasd.search.queryerrors import QuerySyntaxError

    state: _State = request.app.state.rasd
    t = translator(request.state.lang)
    params = _search_params(request)
    size = state.settings.web.page_size
    try:
        catalog = await run_in_threadpool(state.catalog)
    except RasdError as exc:
        return _error(request, str(exc), 500)
    problems = value_problems(catalog, outlets=params["outlets"], languages=params["languages"],
                              topics=params["topics"], prefix="", lang=request.state.lang)
    result, query_problem = None, None
    if not problems:
        try:
            result = await run_in_threadpool(
                search_stories, state.engine(), state.prefix, params["q"] or "*",
                limit=size, offset=(params["page"] - 1) * size, **_search_options(params))
        except QuerySyntaxError as exc:
            query_problem = problem_text(exc.problem, params["q"], request.state.lang)
        except ConfigError as exc:
            problems = [_option_problem(exc, request.state.lang)]
        except EngineError as exc:
            return _engine_error(request, exc)
    kibana = None
    web = state.settings.web
    if web.kibana_url:
        kibana = kibana_discover(web.kibana_url, web.kibana_data_view, params["q"], params["since"] or None,
                                 params["until"] or None)
    pages = None
    if result is not None:
        last = max(1, -(-result[1] // size))
        pages = {"current": params["page"], "last": last,
                 "prev": _query_string(params, page=params["page"] - 1) if params["page"] > 1 else None,
                 "next": _query_string(params, page=params["page"] + 1) if params["page"] < last else None}
    return _page(request, "search.html", params=params, catalog=catalog, result=result, problems=problems,
                 query_problem=query_problem, kibana=kibana, pages=pages,
                 export=_query_string(params, page=1), t=t, language_names=_language_names(request, catalog))


def _option_problem(exc: ConfigError, lang: str) -> str:
    """A refused ``since``/``until`` (:class:`rasd.search.articles.DateOptionError`, whose
    message names the CLI's options) in the form's words, in Arabic on the Arabic pages."""
    from rasd.search.articles import DateOptionError

    if not isinstance(exc, DateOptionError):
        return str(exc)
    if lang == "en":
        return str(exc).removeprefix("--")
    label = {"since": "من", "until": "إلى"}[exc.option]
    return (f"التاريخ «{exc.value}» في خانة «{label}» غير مقبول: اكتب تاريخًا مثل 2024-01-31 "
            "أو 2024-01-31T12:00Z، أو مدة مثل 7d (سبعة أيام)")


def _language_names(request: Request, catalog) -> dict[str, str]:
    from rasd.alerts.checks import language_names

    names = language_names(request.state.lang)
    return {c: names.get(c, c) for c in catalog.languages}


async def _export_hits(request: Request):
    """``(params, catalog, hits)`` of the CSV and Atom exports (up to 1,000 hits).

    Raises:
        ConfigError: a filter value that does not exist, or a refused date.
        QuerySyntaxError, EngineError: as :func:`rasd.search.articles.search_articles`.
    """
    from rasd.alerts.checks import value_problems
    from rasd.search.articles import search_articles

    state: _State = request.app.state.rasd
    params = _search_params(request)
    catalog = await run_in_threadpool(state.catalog)
    problems = value_problems(catalog, outlets=params["outlets"], languages=params["languages"],
                              topics=params["topics"], prefix="")
    if problems:  # as the search page refuses them: a feed with a typo would stay empty for ever
        raise ConfigError("; ".join(problems))
    _, hits = await run_in_threadpool(search_articles, state.engine(), state.prefix, params["q"] or "*",
                                      limit=1000, **_search_options(params))
    return params, catalog, hits


def _export_problem(exc: Exception) -> str:
    """The 400 answer's line for a refused export: a date in the form's words (``since``, not
    the CLI's ``--since``), without the CLI's ``rasd:``."""
    from rasd.search.articles import DateOptionError

    return str(exc).removeprefix("--") if isinstance(exc, DateOptionError) else str(exc)


async def search_csv(request: Request):
    from rasd.search.queryerrors import QuerySyntaxError

    try:
        _, catalog, hits = await _export_hits(request)
    except (QuerySyntaxError, ConfigError) as exc:
        return PlainTextResponse(_export_problem(exc) + "\n", 400)
    except EngineError as exc:
        request.app.state.rasd.reset()
        return PlainTextResponse(f"rasd: {exc}\n", 503)
    body = to_csv(hits, catalog.outlet_name)
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="rasd-search.csv"'})


async def search_atom(request: Request):
    from rasd.search.queryerrors import QuerySyntaxError

    try:
        params, catalog, hits = await _export_hits(request)
    except (QuerySyntaxError, ConfigError) as exc:
        return PlainTextResponse(_export_problem(exc) + "\n", 400)
    except EngineError as exc:
        request.app.state.rasd.reset()
        return PlainTextResponse(f"rasd: {exc}\n", 503)
    body = to_atom(hits, catalog.outlet_name, f"Rasd: {params['q'] or '*'}", str(request.url))
    return Response(body, media_type="application/atom+xml; charset=utf-8")


# --- story ------------------------------------------------------------------------------------


async def story_page(request: Request):
    from rasd.search.articles import story_articles

    state: _State = request.app.state.rasd
    story_id = request.path_params["story_id"]
    try:
        articles = await run_in_threadpool(story_articles, state.engine(), state.prefix, story_id)
        catalog = await run_in_threadpool(state.catalog)
    except EngineError as exc:
        return _engine_error(request, exc)
    if not articles:
        return _error(request, translator(request.state.lang)("not_found"), 404)
    first = articles[0]
    copies = []
    for art in articles[1:]:
        body, changed = text_diff(first.get("text") or "", art.get("text") or "")
        title, title_changed = text_diff(first.get("title") or "", art.get("title") or "")
        copies.append({"article": art, "diff": body, "changed": changed, "title_diff": title,
                       "title_changed": title_changed})
    return _page(request, "story.html", story_id=story_id, first=first, copies=copies, catalog=catalog)


# --- alerts -----------------------------------------------------------------------------------


def _split(text: str) -> list[str]:
    return [x for x in (text or "").replace(",", " ").replace("،", " ").split() if x]


def _form_spec(form, existing=None) -> dict:
    """An alert spec (for :func:`rasd.alerts.model.parse_alert`) from the alert form."""
    def integer(name, default):
        raw = (form.get(name) or "").strip()
        try:
            return int(raw) if raw else default
        except ValueError:
            return raw  # refused by the model, with the field named

    spec: dict[str, Any] = {
        "name": (form.get("name") or "").strip(), "query": (form.get("query") or "").strip(),
        "frequency": form.get("frequency") or "immediate",
        "filters": {"outlets": [x for x in form.getlist("outlets") if x],
                    "languages": [x for x in form.getlist("languages") if x],
                    "topics": [x for x in form.getlist("topics") if x]},
        "digest_hour": integer("digest_hour", 8), "timezone": (form.get("timezone") or "UTC").strip(),
        "digest_weekday": form.get("digest_weekday") or "monday", "paused": form.get("paused") == "on",
        "deliveries": {}}
    d = spec["deliveries"]
    if (form.get("webhook_url") or "").strip():
        d["webhook"] = {"url": form.get("webhook_url").strip(),
                        "format": "slack" if form.get("webhook_slack") == "on" else "json"}
    if (form.get("email_to") or "").strip():
        d["email"] = {"to": _split(form.get("email_to")), "from": (form.get("email_from") or "rasd@localhost").strip(),
                      "smtp_host": (form.get("smtp_host") or "127.0.0.1").strip(),
                      "smtp_port": integer("smtp_port", 25)}
        old = existing.deliveries.email if existing is not None else None
        if old is not None:  # login settings are not in the form: kept
            d["email"].update(starttls=old.starttls, username=old.username, password_env=old.password_env)
    if (form.get("atom_path") or "").strip():
        d["atom"] = {"path": form.get("atom_path").strip()}
    if (form.get("apprise_urls") or "").strip():
        d["apprise"] = {"urls": [u.strip() for u in form.get("apprise_urls").splitlines() if u.strip()]}
    if existing is not None:
        spec["owner"] = existing.owner
    return spec


def _form_values(alert=None, spec: dict | None = None) -> dict:
    """The form's field values from an alert (editing) or a spec (re-shown after a POST)."""
    if spec is None:
        spec = alert.spec() if alert is not None else {}
    d = spec.get("deliveries", {})
    f = spec.get("filters", {})
    return {"name": spec.get("name", ""), "query": spec.get("query", ""),
            "frequency": spec.get("frequency", "immediate"), "digest_hour": spec.get("digest_hour", 8),
            "timezone": spec.get("timezone", "UTC"), "digest_weekday": spec.get("digest_weekday", "monday"),
            "paused": spec.get("paused", False),
            "outlets": f.get("outlets", []), "languages": f.get("languages", []), "topics": f.get("topics", []),
            "webhook_url": d.get("webhook", {}).get("url", ""),
            "webhook_slack": d.get("webhook", {}).get("format") == "slack",
            "email_to": ", ".join(d.get("email", {}).get("to", [])),
            "email_from": d.get("email", {}).get("from", "rasd@localhost"),
            "smtp_host": d.get("email", {}).get("smtp_host", "127.0.0.1"),
            "smtp_port": d.get("email", {}).get("smtp_port", 25),
            "atom_path": d.get("atom", {}).get("path", ""),
            "apprise_urls": "\n".join(d.get("apprise", {}).get("urls", []))}


async def alerts_page(request: Request):
    from rasd.alerts.match import list_alerts

    state: _State = request.app.state.rasd
    try:
        alerts = await run_in_threadpool(list_alerts, state.engine(), state.prefix)
        catalog = await run_in_threadpool(state.catalog)
    except EngineError as exc:
        return _engine_error(request, exc)
    flash = request.query_params.get("done")
    return _page(request, "alerts.html", alerts=alerts, catalog=catalog, flash=flash,
                 can_change=lambda a: auth.can_change(state.settings.web, request.state.user, a),
                 describe=_deliveries_text)


def _deliveries_text(alert) -> str:
    from rasd.alerts.channels.apprise import redact

    d, parts = alert.deliveries, []
    if d.webhook:
        parts.append(f"webhook {urlsplit(d.webhook.url).netloc}")
    if d.email:
        parts.append("email " + ", ".join(d.email.to))
    if d.atom:
        parts.append(f"atom {Path(d.atom.path).name}")
    if d.apprise:
        parts.append("apprise " + ", ".join(redact(u) for u in d.apprise.urls))
    return "; ".join(parts) or "—"


async def _get_alert(request: Request, name: str):
    from rasd.alerts.match import get_alert
    from rasd.alerts.model import AlertError

    state: _State = request.app.state.rasd
    try:
        return await run_in_threadpool(get_alert, state.engine(), state.prefix, name)
    except AlertError:
        return None


async def alert_new(request: Request):
    return await _form_page(request, mode="new", values=_form_values())


async def alert_edit(request: Request):
    name = request.path_params["name"]
    try:
        alert = await _get_alert(request, name)
    except EngineError as exc:
        return _engine_error(request, exc)
    if alert is None:
        return _error(request, translator(request.state.lang)("not_found"), 404)
    state: _State = request.app.state.rasd
    if not auth.can_change(state.settings.web, request.state.user, alert):
        return _error(request, translator(request.state.lang)("not_owner", o=alert.owner), 403)
    return await _form_page(request, mode="edit", values=_form_values(alert), original=name)


async def _form_page(request: Request, *, mode: str, values: dict, original: str = "", errors=(),
                     notice: str | None = None, preview=None, days: int = 7, status: int = 200):
    state: _State = request.app.state.rasd
    try:
        catalog = await run_in_threadpool(state.catalog)
    except RasdError as exc:
        return _error(request, str(exc), 500)
    return _page(request, "alert_form.html", status=status, mode=mode, values=values, original=original,
                 errors=list(errors), notice=notice, preview=preview, days=days, preview_days=PREVIEW_DAYS,
                 catalog=catalog, language_names=_language_names(request, catalog),
                 weekdays=("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
                 zones=_zones(values.get("timezone")))


def _zones(current: str | None) -> list[str]:
    common = ["UTC", "Asia/Riyadh", "Asia/Baghdad", "Asia/Dubai", "Asia/Qatar", "Asia/Kuwait", "Asia/Amman",
              "Asia/Beirut", "Asia/Damascus", "Asia/Jerusalem", "Asia/Gaza", "Asia/Aden", "Asia/Muscat",
              "Asia/Bahrain", "Asia/Tehran", "Asia/Karachi", "Africa/Cairo", "Africa/Khartoum",
              "Africa/Tripoli", "Africa/Tunis", "Africa/Algiers", "Africa/Casablanca", "Africa/Nouakchott",
              "Europe/London", "Europe/Paris", "Europe/Berlin", "Europe/Istanbul", "America/New_York"]
    return common if not current or current in common else [current] + common


def _preview_alert(spec: dict):
    """An :class:`Alert` for previewing a form: its name may be anything, deliveries are ignored."""
    from rasd.alerts.model import parse_alert

    return parse_alert(dict(spec, name="preview", deliveries={}, owner=None), "alert")


def _query_status(state: _State, spec: dict, lang: str) -> dict:
    """``{"ok": bool, "messages": [...]}``: the query checked by the engine (plain words) and the
    filters checked against what exists.  Runs in the thread pool."""
    from rasd.alerts.checks import filter_problems
    from rasd.alerts.match import validate_query
    from rasd.alerts.model import AlertError

    if not spec.get("query"):
        return {"ok": False, "messages": [translator(lang)("query") + ": " + translator(lang)("required")]}
    try:
        alert = _preview_alert(spec)
    except AlertError as exc:
        return {"ok": False, "messages": [str(exc).removeprefix("alert: ")]}
    state.alerts_index()
    try:
        validate_query(state.engine(), state.prefix, alert)
    except AlertError as exc:
        problem = getattr(exc, "problem", None)
        return {"ok": False, "messages": [problem_text(problem, alert.query, lang) if problem else str(exc)]}
    problems = filter_problems(alert, state.catalog())
    return {"ok": not problems, "messages": problems or [translator(lang)("query_ok")]}


def _preview(state: _State, spec: dict, days: int) -> dict:
    """``{"stories": [...], "days": n}`` or ``{"problem": text}``: what the form's alert would
    have sent over the last ``days`` days, one row per story (:func:`alert_history`)."""
    from rasd.alerts.match import alert_history

    alert = _preview_alert(spec)
    stories = alert_history(state.engine(), state.prefix, alert, since=f"{days}d", limit=1000)
    return {"stories": list(reversed(stories)), "days": days}


def _days(form) -> int:
    try:
        days = int(form.get("days") or 7)
    except ValueError:
        days = 7
    return days if days in PREVIEW_DAYS else 7


async def alert_validate(request: Request):
    form = await _form(request)
    if form is None:
        return PlainTextResponse("csrf", 403)
    state: _State = request.app.state.rasd
    try:
        status = await run_in_threadpool(_query_status, state, _form_spec(form), request.state.lang)
    except EngineError as exc:
        state.reset()
        status = {"ok": False, "messages": [translator(request.state.lang)("engine_down", e=str(exc))]}
    return _page(request, "_validation.html", check=status)


async def alert_preview(request: Request):
    from rasd.alerts.model import AlertError
    from rasd.search.queryerrors import QuerySyntaxError

    form = await _form(request)
    if form is None:
        return PlainTextResponse("csrf", 403)
    state: _State = request.app.state.rasd
    try:
        preview = await run_in_threadpool(_preview, state, _form_spec(form), _days(form))
    except (AlertError, QuerySyntaxError, ConfigError, EngineError) as exc:
        if isinstance(exc, EngineError) and not isinstance(exc, QuerySyntaxError):
            state.reset()
        preview = {"problem": getattr(getattr(exc, "problem", None), "message", None) or str(exc)}
    catalog = await run_in_threadpool(state.catalog)
    return _page(request, "_preview.html", preview=preview, catalog=catalog)


def _test_message(spec: dict, preview: dict | None) -> dict:
    """A notification of kind ``test`` (a fresh id each time) with the newest previewed story,
    or a placeholder story when there is none."""
    from rasd.core.article import isoformat_utc, utcnow

    stories = (preview or {}).get("stories") or []
    if stories:
        s = stories[0]
        story = {"story_id": s["story_id"], "title": s["title"], "url": s["url"], "outlet": s["outlet"],
                 "published_at": s.get("published_at"), "outlets": s["outlets"], "outlet_count": len(s["outlets"]),
                 "also_reported_by": max(0, len(s["outlets"]) - 1), "highlight": {"title": s["title"], "snippet": ""}}
    else:
        story = {"story_id": "test", "title": "رسالة تجريبية من رصد / Rasd test message", "url": "",
                 "outlet": "rasd", "published_at": None, "outlets": ["rasd"], "outlet_count": 1,
                 "also_reported_by": 0, "highlight": {"title": "رسالة تجريبية من رصد / Rasd test message",
                                                      "snippet": ""}}
    return {"id": f"rasd-test-{uuid.uuid4().hex}", "alert": spec.get("name") or "test",
            "query": spec.get("query", ""), "kind": "test", "created_at": isoformat_utc(utcnow()),
            "stories": [story]}


async def alert_form_post(request: Request):
    """The alert form's buttons: ``save``, ``preview`` and ``test:<channel>``."""
    from rasd.alerts.channels import CHANNELS, DeliveryError
    from rasd.alerts.checks import check_alert
    from rasd.alerts.match import add_alert, validate_query
    from rasd.alerts.model import AlertError, parse_alert
    from rasd.search.queryerrors import QuerySyntaxError

    form = await _form(request)
    t = translator(request.state.lang)
    if form is None:
        return _error(request, t("csrf"), 403)
    state: _State = request.app.state.rasd
    web, user = state.settings.web, request.state.user
    mode = "edit" if form.get("mode") == "edit" else "new"
    original = (form.get("original") or "").strip()
    action = form.get("action") or "save"
    days = _days(form)
    try:
        existing = await _get_alert(request, original) if mode == "edit" and original else None
    except EngineError as exc:
        return _engine_error(request, exc)
    if mode == "edit" and existing is None:
        return _error(request, t("not_found"), 404)
    if existing is not None and not auth.can_change(web, user, existing):
        return _error(request, t("not_owner", o=existing.owner), 403)
    spec = _form_spec(form, existing)
    if mode == "edit":
        spec["name"] = original  # the name is the alert's id: renaming is delete + new
    elif user is not None:
        spec["owner"] = user
    values = _form_values(spec=spec)
    again = lambda **kw: _form_page(request, mode=mode, values=values, original=original, days=days, **kw)  # noqa: E731

    if action == "preview" or action.startswith("test:"):
        preview = None
        try:
            preview = await run_in_threadpool(_preview, state, spec, days)
        except (AlertError, QuerySyntaxError, ConfigError) as exc:
            preview = {"problem": str(exc)}
        except EngineError as exc:
            return _engine_error(request, exc)
        if action == "preview":
            return await again(preview=preview)
        channel = action.split(":", 1)[1]
        if channel not in CHANNELS:
            return await again(preview=preview, errors=[f"no channel {channel!r}"], status=400)
        try:
            alert = parse_alert(spec, "alert")
            target = alert.deliveries.configured().get(channel)
            if target is None:
                raise AlertError(f"deliveries.{channel}: not set in the form")
            await run_in_threadpool(CHANNELS[channel], target, _test_message(spec, preview))
        except (AlertError, DeliveryError, OSError) as exc:
            return await again(preview=preview, errors=[t("test_failed", c=channel, e=str(exc))])
        return await again(preview=preview, notice=t("test_sent", c=channel))

    # save
    try:
        alert = parse_alert(spec, "alert")
        await run_in_threadpool(state.alerts_index)
        await run_in_threadpool(validate_query, state.engine(), state.prefix, alert)
        check_alert(alert, await run_in_threadpool(state.catalog))
        await run_in_threadpool(add_alert, state.engine(), state.prefix, alert, mode == "edit")
    except AlertError as exc:
        problem = getattr(exc, "problem", None)
        message = problem_text(problem, spec["query"], request.state.lang) if problem else str(exc)
        return await again(errors=[message], status=400)
    except EngineError as exc:
        return _engine_error(request, exc)
    return RedirectResponse(f"/alerts/{alert.name}?done=saved", 303)


async def alert_detail(request: Request):
    name = request.path_params["name"]
    state: _State = request.app.state.rasd
    try:
        alert = await _get_alert(request, name)
        catalog = await run_in_threadpool(state.catalog)
    except EngineError as exc:
        return _engine_error(request, exc)
    rows = await run_in_threadpool(_outbox_rows, state, name)
    if alert is None and not rows:
        return _error(request, translator(request.state.lang)("not_found"), 404)
    return _page(request, "alert_detail.html", alert=alert, name=name, rows=rows, catalog=catalog,
                 flash=request.query_params.get("done"), describe=_deliveries_text,
                 can_change=alert is not None and auth.can_change(state.settings.web, request.state.user, alert))


def _outbox_rows(state: _State, alert: str | None = None, rows_state: str | None = None) -> list[dict]:
    store = state.store()
    try:
        return store.outbox(alert=alert, state=rows_state, limit=300)
    finally:
        store.close()


async def alert_action(request: Request):
    """``/alerts/{name}/pause|resume|delete``."""
    from rasd.alerts.match import add_alert, remove_alert

    form = await _form(request)
    t = translator(request.state.lang)
    if form is None:
        return _error(request, t("csrf"), 403)
    name, action = request.path_params["name"], request.path_params["action"]
    if action not in ("pause", "resume", "delete"):
        return _error(request, t("not_found"), 404)
    state: _State = request.app.state.rasd
    try:
        alert = await _get_alert(request, name)
        if alert is None:
            return _error(request, t("not_found"), 404)
        if not auth.can_change(state.settings.web, request.state.user, alert):
            return _error(request, t("not_owner", o=alert.owner), 403)
        if action == "delete":
            await run_in_threadpool(remove_alert, state.engine(), state.prefix, name)
            return RedirectResponse("/alerts?" + urlencode({"done": t("deleted", n=name)}), 303)
        paused = action == "pause"
        await run_in_threadpool(add_alert, state.engine(), state.prefix,
                                alert.model_copy(update={"paused": paused}), True)
    except EngineError as exc:
        return _engine_error(request, exc)
    return RedirectResponse(_local(form.get("next"), f"/alerts/{name}") + "?" + urlencode(
        {"done": t("paused_msg" if paused else "resumed_msg", n=name)}), 303)


# --- outbox -----------------------------------------------------------------------------------


async def outbox_page(request: Request):
    state: _State = request.app.state.rasd
    which = request.query_params.get("state")
    which = which if which in ("pending", "delivered", "dropped") else None
    rows = await run_in_threadpool(_outbox_rows, state, None, which)
    return _page(request, "outbox.html", rows=rows, which=which, flash=request.query_params.get("done"))


def _outbox_act(state: _State, seq: int, action: str, user: str | None) -> tuple[int, str]:
    """Retry or drop outbox row ``seq`` for ``user``: ``(HTTP status, message)``."""
    from rasd.alerts.match import list_alerts
    from rasd.alerts.outbox import deliver_pending

    store = state.store()
    try:
        row = next((r for r in store.outbox(limit=100000) if r["seq"] == seq), None)
        if row is None or row["state"] != "pending":
            return 404, f"outbox row {seq} is not pending"
        try:
            alerts = {a.name: a for a in list_alerts(state.engine(), state.prefix)}
            from rasd.alerts.health import list_health_alerts

            alerts |= {a.name: a for a in list_health_alerts(store)}  # never "removed"
        except EngineError:
            state.reset()
            alerts = None
        owner_alert = (alerts or {}).get(row["alert"])
        if owner_alert is not None and not auth.can_change(state.settings.web, user, owner_alert):
            return 403, f"alert {row['alert']} belongs to {owner_alert.owner}"
        if action == "drop":
            store.drop(seq, f"dropped by {user or 'a user'} in the web app")
            return 200, f"outbox row {seq} dropped"
        store.retry_now(seq)
        report = deliver_pending(store, seqs=[seq], alerts=alerts)
        r = report.rows[0] if report.rows else {"outcome": "pending", "error": None}
        return 200, f"outbox row {seq}: {r['outcome']}" + (f": {r['error']}" if r.get("error") else "")
    finally:
        store.close()


async def outbox_action(request: Request):
    form = await _form(request)
    t = translator(request.state.lang)
    if form is None:
        return _error(request, t("csrf"), 403)
    state: _State = request.app.state.rasd
    try:
        seq = int(request.path_params["seq"])
        if request.path_params["action"] not in ("retry", "drop"):
            raise ValueError
    except ValueError:
        return _error(request, t("not_found"), 404)
    status, message = await run_in_threadpool(_outbox_act, state, seq, request.path_params["action"],
                                              request.state.user)
    if status != 200:
        return _error(request, message, status)
    target = _local(form.get("next"), "/outbox")
    return RedirectResponse(target + ("&" if "?" in target else "?") + urlencode({"done": message}), 303)


# --- outlets ----------------------------------------------------------------------------------


def _outlets_data(state: _State) -> list[dict]:
    from rasd.core.seeds import load_outlets
    from rasd.web.health import outlet_health

    settings = state.settings
    data_dir = Path(settings.data_dir)
    outlets = {s: o for s, o in load_outlets(settings.seeds_dir, include_disabled=True).items()}
    replayed = data_dir / "scheduler" / "outlets.json"
    domains: dict[str, list[str]] = {s: list(o.domains) for s, o in outlets.items()}
    names = {s: o.name for s, o in outlets.items()}
    if replayed.exists():
        try:
            for slug, o in json.loads(replayed.read_text(encoding="utf-8")).items():
                names.setdefault(slug, o.get("name", slug))
                domains.setdefault(slug, o.get("domains", []))
        except (OSError, ValueError):
            pass
    from rasd.scheduler.health import rules_from

    health = outlet_health(data_dir, rules_from(settings.health))
    today = datetime.now(timezone.utc).date()
    days = [today - timedelta(days=29 - i) for i in range(30)]
    per_day: dict[str, dict[str, int]] = {}
    try:
        answer = state.engine().search(state.prefix, {"size": 0, "query": {"range": {"fetched_at": {"gte": "now-29d/d"}}},
            "aggs": {"outlets": {"terms": {"field": "outlet", "size": 1000}, "aggs": {"days": {"date_histogram": {
                "field": "fetched_at", "calendar_interval": "day", "min_doc_count": 0, "format": "yyyy-MM-dd"}}}}}})
        for b in answer["aggregations"]["outlets"]["buckets"]:
            per_day[b["key"]] = {d["key_as_string"]: d["doc_count"] for d in b["days"]["buckets"]}
    except EngineError:
        state.reset()
    listings: dict[str, list[dict]] = {}
    feeds = data_dir / "feedstate.sqlite"
    if feeds.exists():
        from rasd.core.errors import RasdError
        from rasd.crawler.feedstate import FeedState

        try:
            remembered = FeedState(feeds).records()
        except RasdError:
            remembered = []
        for rec, updated in remembered:
            host = (urlsplit(rec.url).hostname or "").lower()
            owner = next((s for s, ds in domains.items()
                          if any(host == d or host.endswith("." + d) for d in ds)), host)
            listings.setdefault(owner, []).append({"url": rec.url, "etag": rec.etag,
                                                   "last_modified": rec.last_modified,
                                                   "liar": rec.liar, "updated_at": updated})
    slugs = sorted(set(health) | set(per_day) | set(listings) | set(outlets))
    out = []
    for slug in slugs:
        counts = [per_day.get(slug, {}).get(d.isoformat(), 0) for d in days]
        h = health.get(slug)
        out.append({"slug": slug, "name": names.get(slug, slug), "health": h, "counts": counts,
                    "days": [d.isoformat() for d in days], "total": sum(counts), "max": max(counts) or 1,
                    "listings": listings.get(slug, [])})
    # outlets with something to show first: runs, articles, listings
    out.sort(key=lambda o: (o["health"] is None and not o["total"] and not o["listings"], o["name"]))
    return out


async def outlets_page(request: Request):
    state: _State = request.app.state.rasd
    try:
        outlets = await run_in_threadpool(_outlets_data, state)
    except RasdError as exc:
        return _error(request, str(exc), 500)
    return _page(request, "outlets.html", outlets=outlets,
                 when=lambda ts: times(datetime.fromtimestamp(ts, timezone.utc).isoformat(),
                                       state.settings.web.timezone) if ts else None)


# --- sign-in, language ------------------------------------------------------------------------


async def login_page(request: Request):
    if request.method == "GET":
        return _page(request, "login.html", failed=False, next=_local(request.query_params.get("next")))
    form = await _form(request)
    t = translator(request.state.lang)
    if form is None:
        return _error(request, t("csrf"), 403)
    state: _State = request.app.state.rasd
    web = state.settings.web
    name, password = (form.get("username") or "").strip(), form.get("password") or ""
    if web.auth != "password" or not await run_in_threadpool(auth.verify_user, web.users, name, password):
        return _page(request, "login.html", status=401, failed=True, next=_local(form.get("next")))
    request.session.clear()
    request.session["user"] = name
    auth.csrf_token(request.session)
    return RedirectResponse(_local(form.get("next")), 303)


async def logout(request: Request):
    form = await _form(request)
    if form is None:
        return _error(request, translator(request.state.lang)("csrf"), 403)
    request.session.clear()
    return RedirectResponse("/login" if request.app.state.rasd.settings.web.auth == "password" else "/", 303)


async def set_language(request: Request):
    code = request.path_params["code"]
    response = RedirectResponse(_local(request.query_params.get("next")), 303)
    if code in LANGS:
        response.set_cookie("lang", code, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


async def home(request: Request):
    return RedirectResponse("/search", 303)


# --- the app ----------------------------------------------------------------------------------


def create_app(settings, connect=None) -> Starlette:
    """The ASGI app for ``settings`` (:class:`~rasd.core.settings.RasdSettings`); ``connect``
    makes the engine connection (default: :func:`rasd.search.engine.connect` with the
    settings).  Does not check the binding: :func:`rasd.web.auth.check_startup` does."""
    import secrets

    from rasd.search.engine import connect as engine_connect

    if connect is None:
        connect = lambda: engine_connect(settings.engine, settings.secret)  # noqa: E731
    web = settings.web
    secret = web.session_secret.get_secret_value() if web.session_secret else secrets.token_urlsafe(32)
    routes = [
        Route("/", home),
        Route("/search", search_page),
        Route("/search.csv", search_csv),
        Route("/search.atom", search_atom),
        Route("/story/{story_id}", story_page),
        Route("/alerts", alerts_page),
        Route("/alerts/new", alert_new),
        Route("/alerts/form", alert_form_post, methods=["POST"]),
        Route("/alerts/validate", alert_validate, methods=["POST"]),
        Route("/alerts/preview", alert_preview, methods=["POST"]),
        Route("/alerts/{name}", alert_detail),
        Route("/alerts/{name}/edit", alert_edit),
        Route("/alerts/{name}/{action:str}", alert_action, methods=["POST"]),
        Route("/outbox", outbox_page),
        Route("/outbox/{seq}/{action:str}", outbox_action, methods=["POST"]),
        Route("/outlets", outlets_page),
        Route("/login", login_page, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/lang/{code}", set_language),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[
        Middleware(SessionMiddleware, secret_key=secret, session_cookie="rasd_session",
                   max_age=web.session_max_age_seconds, same_site="lax", https_only=web.secure_cookies),
        Middleware(_Guard),
    ])
    app.state.rasd = _State(settings, connect)
    app.state.templates = Jinja2Templates(env=_env())
    return app
