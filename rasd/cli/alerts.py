"""``rasd alerts …``: keyword alerts (definitions in the engine, state in ``<data-dir>/alerts.sqlite``).

Added to the main app by :func:`register` (``rasd/cli.py``: ``cli_alerts.register(app)``):

* ``rasd alerts add NAME --query Q [--outlet ..] [--lang ..] [--topic ..] [--frequency ..]
  [--digest-hour H --timezone TZ --weekday D] [--webhook URL [--slack]] [--email ADDR ...
  --smtp-host H --smtp-port P --from A] [--atom PATH] [--apprise URL ...] [--paused]
  [--replace]`` — the engine validates the query (an invalid one is refused with the reason
  in plain words); filters must exist (ISO 639 language codes, topics of the taxonomy, known
  outlets) and at least one delivery is required (:func:`rasd.alerts.checks.check_alert`);
* ``rasd alerts import FILE`` — add every alert of a YAML file (``config/alerts.example.yaml``;
  ``kind: health`` entries are health alerts);
* ``rasd alerts add-health NAME [--outlet ..] [--state ..] --webhook URL | --email .. | --atom
  PATH | --apprise URL``, ``list-health``, ``remove-health NAME`` — health alerts
  (:mod:`rasd.alerts.health`: one notification per change of an outlet's health state);
* ``rasd alerts list`` / ``show NAME`` / ``remove NAME`` / ``pause NAME`` / ``resume NAME``;
* ``rasd alerts test NAME [--since 7d]`` — what the alert would have sent: one row per story
  found in the articles index;
* ``rasd alerts send-digests [--force]`` — queue the due daily/weekly digests and deliver;
  ``rasd schedule`` does this every minute by itself;
* ``rasd alerts deliver`` — retry every pending delivery of the outbox now;
* ``rasd alerts outbox [--alert NAME] [--state pending|delivered|dropped]``, ``outbox retry
  SEQ``, ``outbox drop SEQ``.

Every delivery pass prints one line per delivery it handled (delivered, failed with the
reason and the next attempt, held for a paused alert, dropped for a removed one) and the rows
still waiting for a retry with their last error.  Errors are one line on stderr and exit code
2; exit code 1 when a delivery attempted by this command failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from rasd.core.errors import RasdError

from rasd.cli.common import console, err, fail as _fail, open_engine as _open  # noqa: E402
alerts_app = typer.Typer(add_completion=False, no_args_is_help=True,
                         help="Keyword alerts: percolator queries matched against new articles.")






def _store(settings):
    from rasd.alerts.outbox import AlertStore

    return AlertStore(settings.data_dir / "alerts.sqlite")


def _deliveries(alert) -> str:
    d = alert.deliveries
    parts = []
    if d.webhook:
        parts.append(f"webhook {d.webhook.url} ({d.webhook.format})")
    if d.email:
        parts.append(f"email {', '.join(d.email.to)} via {d.email.smtp_host}:{d.email.smtp_port}")
    if d.atom:
        parts.append(f"atom {d.atom.path}")
    if d.apprise:
        from rasd.alerts.channels.apprise import redact

        parts.append("apprise " + ", ".join(redact(u) for u in d.apprise.urls))
    return "; ".join(parts) or "none"


def _checked(alerts, engine, settings) -> None:
    """:func:`rasd.alerts.checks.check_alert` for each of ``alerts`` (raises AlertError)."""
    from rasd.alerts.checks import catalog_for, check_alert
    from rasd.alerts.match import check_storable, init_alerts_index, validate_query

    catalog = catalog_for(settings, engine)
    init_alerts_index(engine, settings.engine.index_prefix)
    for alert in alerts:
        validate_query(engine, settings.engine.index_prefix, alert)  # the query's reason first
        check_storable(alert)
        check_alert(alert, catalog)


@alerts_app.command("add")
def add_cmd(
    name: Annotated[str, typer.Argument(help="alert name (slug: a-z 0-9 - _)")],
    query: Annotated[str, typer.Option("--query", "-q", help="search syntax, e.g. 'مسئولون AND التحالف'")],
    outlet: Annotated[Optional[list[str]], typer.Option(help="only this outlet (repeatable)")] = None,
    lang: Annotated[Optional[list[str]], typer.Option(help="only this language (repeatable)")] = None,
    topic: Annotated[Optional[list[str]], typer.Option(help="only this topic slug (repeatable)")] = None,
    frequency: Annotated[str, typer.Option(help="immediate, daily or weekly")] = "immediate",
    webhook: Annotated[Optional[str], typer.Option(help="POST notifications to this URL")] = None,
    slack: Annotated[bool, typer.Option(help="webhook in Slack format ({\"text\": …})")] = False,
    email: Annotated[Optional[list[str]], typer.Option(help="mail to this address (repeatable)")] = None,
    smtp_host: Annotated[str, typer.Option(help="SMTP server")] = "127.0.0.1",
    smtp_port: Annotated[int, typer.Option(help="SMTP port")] = 25,
    mail_from: Annotated[str, typer.Option("--from", help="sender address")] = "rasd@localhost",
    starttls: Annotated[bool, typer.Option(help="STARTTLS before sending")] = False,
    smtp_user: Annotated[Optional[str], typer.Option(help="SMTP login")] = None,
    password_env: Annotated[Optional[str], typer.Option(help="env variable holding the SMTP password")] = None,
    atom: Annotated[Optional[Path], typer.Option(help="append to this Atom feed file")] = None,
    apprise: Annotated[Optional[list[str]], typer.Option(help="Apprise URL: tgram://…, slack://…, ntfy://…, json://… (repeatable)")] = None,
    digest_hour: Annotated[int, typer.Option(help="daily/weekly: send the digest at this hour (0-23)")] = 8,
    timezone_: Annotated[str, typer.Option("--timezone", help="daily/weekly: of --digest-hour (IANA: Asia/Baghdad)")] = "UTC",
    weekday: Annotated[str, typer.Option(help="weekly: the day (monday … sunday)")] = "monday",
    paused: Annotated[bool, typer.Option(help="add it paused (matches recorded, nothing sent)")] = False,
    replace: Annotated[bool, typer.Option(help="replace an alert of that name")] = False,
) -> None:
    """Add an alert; the engine checks its query first."""
    from rasd.alerts.match import add_alert, parse_alert

    spec: dict = {"name": name, "query": query, "frequency": frequency,
                  "filters": {"outlets": outlet or [], "languages": lang or [], "topics": topic or []},
                  "digest_hour": digest_hour, "timezone": timezone_, "digest_weekday": weekday.lower(),
                  "paused": paused, "deliveries": {}}
    if webhook:
        spec["deliveries"]["webhook"] = {"url": webhook, "format": "slack" if slack else "json"}
    if email:
        spec["deliveries"]["email"] = {"to": email, "from": mail_from, "smtp_host": smtp_host,
                                       "smtp_port": smtp_port, "starttls": starttls,
                                       "username": smtp_user, "password_env": password_env}
    if atom:
        spec["deliveries"]["atom"] = {"path": str(atom.resolve())}
    if apprise:
        spec["deliveries"]["apprise"] = {"urls": list(apprise)}
    try:
        alert = parse_alert(spec, "alert")
        settings, engine, prefix = _open()
        _checked([alert], engine, settings)
        add_alert(engine, prefix, alert, replace=replace)
    except RasdError as exc:
        _fail(exc)
    console.print(f"alert {name} added ({frequency}); deliveries: {escape(_deliveries(alert))}")


@alerts_app.command("import")
def import_cmd(path: Annotated[Path, typer.Argument(help="YAML file with alerts: [...]")],
               replace: Annotated[bool, typer.Option(help="replace alerts of the same name")] = False) -> None:
    """Add every alert of a YAML file (each query checked by the engine)."""
    from rasd.alerts.match import add_alert
    from rasd.alerts.model import load_alerts_file

    from rasd.alerts.health import HealthAlert, save_health_alert
    from rasd.core.settings import load_settings

    try:
        every = load_alerts_file(path)
        health = [a for a in every if isinstance(a, HealthAlert)]
        alerts = [a for a in every if not isinstance(a, HealthAlert)]
        if alerts:
            settings, engine, prefix = _open()
            _checked(alerts, engine, settings)  # all or none
        else:
            settings = load_settings()
        store = _store(settings)
        try:
            if not replace:
                from rasd.alerts.health import list_health_alerts

                taken = {a.name for a in list_health_alerts(store)} & {a.name for a in health}
                if taken:
                    raise RasdError(f"health alert(s) exist: {', '.join(sorted(taken))} (--replace to replace)")
                if alerts:  # all or none: refused before any is added
                    from rasd.alerts.match import list_alerts

                    taken = {a.name for a in list_alerts(engine, prefix)} & {a.name for a in alerts}
                    if taken:
                        raise RasdError(f"alert(s) exist: {', '.join(sorted(taken))} (--replace to replace)")
            for alert in alerts:
                add_alert(engine, prefix, alert, replace=replace)
            for h in health:
                save_health_alert(store, h, replace=True)
        finally:
            store.close()
    except RasdError as exc:
        _fail(exc)
    console.print(f"{len(every)} alerts added from {path}" + (f" ({len(health)} health alerts)" if health else ""))


@alerts_app.command("add-health")
def add_health_cmd(
    name: Annotated[str, typer.Argument(help="alert name (slug: a-z 0-9 - _)")],
    outlet: Annotated[Optional[list[str]], typer.Option(help="only this outlet (repeatable; default: all)")] = None,
    state: Annotated[Optional[list[str]], typer.Option(help="only changes into this state: ok, degraded, stale, failing, dark (repeatable; default: every change)")] = None,
    webhook: Annotated[Optional[str], typer.Option(help="POST notifications to this URL")] = None,
    slack: Annotated[bool, typer.Option(help="webhook in Slack format ({\"text\": …})")] = False,
    email: Annotated[Optional[list[str]], typer.Option(help="mail to this address (repeatable)")] = None,
    smtp_host: Annotated[str, typer.Option(help="SMTP server")] = "127.0.0.1",
    smtp_port: Annotated[int, typer.Option(help="SMTP port")] = 25,
    mail_from: Annotated[str, typer.Option("--from", help="sender address")] = "rasd@localhost",
    atom: Annotated[Optional[Path], typer.Option(help="append to this Atom feed file")] = None,
    apprise: Annotated[Optional[list[str]], typer.Option(help="Apprise URL (repeatable)")] = None,
    paused: Annotated[bool, typer.Option(help="add it paused")] = False,
    replace: Annotated[bool, typer.Option(help="replace a health alert of that name")] = False,
    data_dir: Annotated[Optional[Path], typer.Option(help="data directory (alerts.sqlite)")] = None,
) -> None:
    """Add a health alert: one notification each time a covered outlet changes health state
    (ok, degraded, stale, failing, dark; `rasd status` shows them).  Kept in alerts.sqlite."""
    from rasd.alerts.health import parse_health_alert, save_health_alert

    spec: dict = {"name": name, "filters": {"outlets": outlet or []}, "states": [s.lower() for s in state or []],
                  "paused": paused, "deliveries": {}}
    if webhook:
        spec["deliveries"]["webhook"] = {"url": webhook, "format": "slack" if slack else "json"}
    if email:
        spec["deliveries"]["email"] = {"to": email, "from": mail_from, "smtp_host": smtp_host,
                                       "smtp_port": smtp_port}
    if atom:
        spec["deliveries"]["atom"] = {"path": str(atom.resolve())}
    if apprise:
        spec["deliveries"]["apprise"] = {"urls": list(apprise)}
    try:
        alert = parse_health_alert(spec, "health alert")
        settings, store = _settings_store(data_dir)
        try:
            save_health_alert(store, alert, replace=replace)
        finally:
            store.close()
    except RasdError as exc:
        _fail(exc)
    console.print(f"health alert {name} added ({', '.join(alert.filters.outlets) or 'every outlet'}); "
                  f"deliveries: {escape(_deliveries(alert))}")


@alerts_app.command("remove-health")
def remove_health_cmd(name: str,
                      data_dir: Annotated[Optional[Path], typer.Option(help="data directory (alerts.sqlite)")] = None) -> None:
    """Delete a health alert."""
    from rasd.alerts.health import remove_health_alert

    try:
        settings, store = _settings_store(data_dir)
        try:
            if not remove_health_alert(store, name):
                raise RasdError(f"no health alert named {name!r}")
        finally:
            store.close()
    except RasdError as exc:
        _fail(exc)
    console.print(f"health alert {name} removed")


@alerts_app.command("list-health")
def list_health_cmd(as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
                    data_dir: Annotated[Optional[Path], typer.Option(help="data directory (alerts.sqlite)")] = None) -> None:
    """List the health alerts."""
    from rasd.alerts.health import list_health_alerts

    try:
        settings, store = _settings_store(data_dir)
        try:
            alerts = list_health_alerts(store)
        finally:
            store.close()
    except RasdError as exc:
        _fail(exc)
    if as_json:
        sys.stdout.write(json.dumps([a.spec() for a in alerts], ensure_ascii=False, indent=1) + "\n")
        return
    table = Table(title=f"{len(alerts)} health alerts")
    for col in ("name", "outlets", "states", "deliveries", "state"):
        table.add_column(col)
    for a in alerts:
        table.add_row(a.name, ", ".join(a.filters.outlets) or "all", ", ".join(a.states) or "any change",
                      escape(_deliveries(a)), "paused" if a.paused else "active")
    console.print(table)


@alerts_app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False) -> None:
    """List the alerts."""
    from rasd.alerts.match import list_alerts

    try:
        _, engine, prefix = _open()
        alerts = list_alerts(engine, prefix)
    except RasdError as exc:
        _fail(exc)
    if as_json:
        sys.stdout.write(json.dumps([a.spec() for a in alerts], ensure_ascii=False, indent=1) + "\n")
        return
    table = Table(title=f"{len(alerts)} alerts")
    for col in ("name", "query", "filters", "frequency", "deliveries", "state"):
        table.add_column(col)
    for a in alerts:
        f = a.filters
        filters = " ".join(f"{k}={','.join(v)}" for k, v in
                           (("outlet", f.outlets), ("lang", f.languages), ("topic", f.topics)) if v)
        when = ("" if a.frequency == "immediate" else
                f" {a.digest_hour:02d}:00 {a.timezone}" + (f" {a.digest_weekday}" if a.frequency == "weekly" else ""))
        table.add_row(a.name, escape(a.query), filters, a.frequency + when, escape(_deliveries(a)),
                      "paused" if a.paused else "active")
    console.print(table)


@alerts_app.command("show")
def show_cmd(name: str) -> None:
    """Print one alert as JSON, with its percolator query."""
    from rasd.alerts.match import get_alert

    try:
        _, engine, prefix = _open()
        alert = get_alert(engine, prefix, name)
    except RasdError as exc:
        _fail(exc)
    sys.stdout.write(json.dumps(alert.spec() | {"percolator_query": alert.search_query()},
                                ensure_ascii=False, indent=1) + "\n")


@alerts_app.command("remove")
def remove_cmd(name: str) -> None:
    """Delete an alert (its notification history stays in alerts.sqlite)."""
    from rasd.alerts.match import remove_alert

    try:
        _, engine, prefix = _open()
        remove_alert(engine, prefix, name)
    except RasdError as exc:
        _fail(exc)
    console.print(f"alert {name} removed")


def _set_paused(name: str, paused: bool) -> None:
    from rasd.alerts.match import add_alert, get_alert

    try:
        _, engine, prefix = _open()
        alert = get_alert(engine, prefix, name)
        add_alert(engine, prefix, alert.model_copy(update={"paused": paused}), replace=True)
    except RasdError as exc:
        _fail(exc)
    console.print(f"alert {name} {'paused: matches are recorded, nothing is sent' if paused else 'resumed'}")


@alerts_app.command("pause")
def pause_cmd(name: str) -> None:
    """Pause an alert: its matches are still recorded, nothing is sent, its outbox rows are held."""
    _set_paused(name, True)


@alerts_app.command("resume")
def resume_cmd(name: str) -> None:
    """Resume a paused alert (held deliveries go out with the next delivery pass)."""
    _set_paused(name, False)


@alerts_app.command("test")
def test_cmd(
    name: str,
    since: Annotated[str, typer.Option(help="look back this far: 7d, 12h, 2w, 2024-01-01, now-30d")] = "7d",
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="at most this many articles")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="print stories as JSON")] = False,
) -> None:
    """Run the alert over the indexed history: what it would have sent, one row per story."""
    from rasd.alerts.match import alert_history, get_alert
    from rasd.alerts.render import also_reported

    try:
        _, engine, prefix = _open()
        alert = get_alert(engine, prefix, name)
        stories = alert_history(engine, prefix, alert, since=since, limit=limit)
    except RasdError as exc:
        _fail(exc)
    if as_json:
        sys.stdout.write(json.dumps(stories, ensure_ascii=False, indent=1) + "\n")
        return
    from rasd.cli.index import RtlCell

    table = Table(title=f"alert {name}: {len(stories)} stories since {since} "
                        f"({alert.frequency}; to {escape(_deliveries(alert))})", show_lines=True)
    for col in ("date", "outlet", "title", "outlets"):
        table.add_column(col, no_wrap=col != "title", ratio=3 if col == "title" else None)
    for s in stories:
        also = also_reported(len(s["outlets"]) - 1)
        table.add_row((s.get("published_at") or "—")[:16].replace("T", " "), escape(s["outlet"]),
                      RtlCell(escape(s["title"])), f"{len(s['outlets'])}" + (f" ({also})" if also else ""))
    console.print(table)


@alerts_app.command("send-digests")
def digests_cmd(
    force: Annotated[bool, typer.Option(help="send every digest now, due or not")] = False,
    data_dir: Annotated[Optional[Path], typer.Option(help="data directory (alerts.sqlite)")] = None,
) -> None:
    """Queue the daily/weekly digests that are due and deliver them (with the other due rows)."""
    from rasd.alerts.match import list_alerts
    from rasd.alerts.outbox import send_digests

    try:
        settings, engine, prefix = _open(data_dir)
        store = _store(settings)
        sent = send_digests(store, list_alerts(engine, prefix) + list(_health_alerts(settings).values()),
                            force=force)
    except RasdError as exc:
        _fail(exc)
    for name, n in sent.items():
        console.print(f"{name}: digest with {n} stories queued" if n else f"{name}: nothing new, no digest")
    for name, why in sent.skipped.items():
        console.print(f"{name}: {why}, no digest")
    if not sent and not sent.skipped:
        console.print("no digest is due")
    _report(sent.delivery, store)


@alerts_app.command("deliver")
def deliver_cmd(data_dir: Annotated[Optional[Path], typer.Option(help="data directory (alerts.sqlite)")] = None) -> None:
    """Retry every pending delivery in the outbox now (backoff ignored)."""
    from rasd.alerts.outbox import deliver_pending

    try:
        settings, store = _settings_store(data_dir)
        report = deliver_pending(store, force=True, alerts=_existing_alerts(settings))
    except RasdError as exc:
        _fail(exc)
    _report(report, store)


def _settings_store(data_dir):
    from rasd.core.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    return settings, _store(settings)


def _health_alerts(settings) -> dict:
    """``{name: HealthAlert}`` of the local store (their rows are never "alert removed")."""
    from rasd.alerts.health import list_health_alerts

    store = _store(settings)
    try:
        return {a.name: a for a in list_health_alerts(store)}
    finally:
        store.close()


def _existing_alerts(settings) -> dict | None:
    """``{name: Alert}`` from the engine, or ``None`` (with a warning) when it cannot say."""
    from rasd.alerts.match import list_alerts
    from rasd.search.engine import connect

    try:
        engine = connect(settings.engine, settings.secret)
        return {a.name: a for a in list_alerts(engine, settings.engine.index_prefix)} | _health_alerts(settings)
    except RasdError as exc:
        err.print(f"rasd: cannot list the alerts ({escape(str(exc))}); every pending row is tried, "
                  "none dropped or held", highlight=False, soft_wrap=True)
        return None


_OUTCOME = {"delivered": "delivered", "failed": "FAILED", "held": "held (alert paused)",
            "dropped": "dropped (alert removed)"}


def _report(report, store) -> None:
    """One line per row handled, the rows still waiting, the totals; exit 1 if one failed now."""
    for row in report.rows or []:
        line = f"  {_OUTCOME[row['outcome']]}: {row['alert']} {row['channel']} #{row['seq']} ({row['notification_id']})"
        if row["outcome"] == "failed":
            line += f": {row['error']}; next attempt {row['next_attempt_at']}"
        (err if row["outcome"] == "failed" else console).print(escape(line), highlight=False, soft_wrap=True)
    handled = {r["seq"] for r in report.rows or []}
    waiting = [r for r in store.outbox(state="pending", limit=1000) if r["seq"] not in handled]
    for r in waiting:
        why = f"last error: {r['last_error']}" if r["last_error"] else "not attempted yet"
        console.print(escape(f"  waiting: {r['alert']} {r['channel']} #{r['seq']} ({why}); next attempt "
                             f"{r['next_attempt_at']}"), highlight=False, soft_wrap=True)
    counts = store.outbox_counts()
    console.print(f"deliveries: {report.delivered} sent now, {report.failed} failed now, {report.held} held, "
                  f"{report.dropped} dropped; outbox: {counts['delivered']} delivered, "
                  f"{counts['pending']} pending, {counts.get('dropped', 0)} dropped")
    if report.failed:
        raise typer.Exit(1)


outbox_app = typer.Typer(add_completion=False, invoke_without_command=True,
                         help="The outbox: every delivery, delivered, pending or dropped.")
alerts_app.add_typer(outbox_app, name="outbox")


@outbox_app.callback()
def outbox_cmd(
    ctx: typer.Context,
    alert: Annotated[Optional[str], typer.Option(help="only this alert's rows")] = None,
    state: Annotated[Optional[str], typer.Option(help="pending, delivered or dropped")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000, help="newest rows shown")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
    data_dir: Annotated[Optional[Path], typer.Option(help="data directory (alerts.sqlite)")] = None,
) -> None:
    """List the outbox, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    if state not in (None, "pending", "delivered", "dropped"):
        _fail(f"--state: {state!r} is not pending, delivered or dropped")
    try:
        _, store = _settings_store(data_dir)
        rows = store.outbox(alert=alert, state=state, limit=limit)
    except RasdError as exc:
        _fail(exc)
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
        return
    table = Table(title=f"outbox: {len(rows)} rows")
    for col in ("seq", "alert", "channel", "kind", "state", "attempts", "created", "last error / reason"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["seq"]), r["alert"], r["channel"], r["kind"] or "", r["state"], str(r["attempts"]),
                      r["created_at"][:16], escape((r["drop_reason"] or r["last_error"] or "")[:80]))
    console.print(table)


@outbox_app.command("drop")
def outbox_drop(seq: Annotated[int, typer.Argument(min=1, max=2**63 - 1, help="the row's seq (rasd alerts outbox)")], data_dir: Annotated[Optional[Path], typer.Option(help="data directory")] = None) -> None:
    """Drop one pending row: never attempted again (it stays listed as dropped)."""
    try:
        _, store = _settings_store(data_dir)
        ok = store.drop(seq, "dropped by a user")
    except RasdError as exc:
        _fail(exc)
    if not ok:
        _fail(f"outbox row {seq} is not pending (rasd alerts outbox --state pending)")
    console.print(f"outbox row {seq} dropped")


@outbox_app.command("retry")
def outbox_retry(seq: Annotated[int, typer.Argument(min=1, max=2**63 - 1, help="the row's seq (rasd alerts outbox)")], data_dir: Annotated[Optional[Path], typer.Option(help="data directory")] = None) -> None:
    """Try one pending row now."""
    from rasd.alerts.outbox import deliver_pending

    try:
        settings, store = _settings_store(data_dir)
        if not store.retry_now(seq):
            _fail(f"outbox row {seq} is not pending (rasd alerts outbox --state pending)")
        report = deliver_pending(store, seqs=[seq], alerts=_existing_alerts(settings))
    except RasdError as exc:
        _fail(exc)
    _report(report, store)


def register(app: typer.Typer) -> None:
    """Add ``alerts`` (with its subcommands) to the ``rasd`` app."""
    app.add_typer(alerts_app, name="alerts")
