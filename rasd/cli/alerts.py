"""``rasd alerts …``: keyword alerts (definitions in the engine, state in ``<data-dir>/alerts.sqlite``).

Added to the main app by :func:`register` (``rasd/cli.py``: ``cli_alerts.register(app)``):

* ``rasd alerts add NAME --query Q [--outlet ..] [--lang ..] [--topic ..] [--frequency ..]
  [--webhook URL [--slack]] [--email ADDR ... --smtp-host H --smtp-port P --from A]
  [--atom PATH] [--replace]`` — the engine validates the query; an invalid one is refused with
  the engine's reason;
* ``rasd alerts import FILE`` — add every alert of a YAML file (``config/alerts.example.yaml``);
* ``rasd alerts list`` / ``show NAME`` / ``remove NAME``;
* ``rasd alerts test NAME [--since 7d]`` — what the alert would have sent: one row per story
  found in the articles index;
* ``rasd alerts send-digests [--force]`` — queue and send due daily/weekly digests;
* ``rasd alerts deliver`` — retry every pending delivery of the outbox now.

Errors are one line on stderr and exit code 2; deliveries still pending after ``deliver`` or
``send-digests`` give exit code 1.
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
    return "; ".join(parts) or "none"


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
    replace: Annotated[bool, typer.Option(help="replace an alert of that name")] = False,
) -> None:
    """Add an alert; the engine checks its query first."""
    from rasd.alerts.match import add_alert, parse_alert

    spec: dict = {"name": name, "query": query, "frequency": frequency,
                  "filters": {"outlets": outlet or [], "languages": lang or [], "topics": topic or []},
                  "deliveries": {}}
    if webhook:
        spec["deliveries"]["webhook"] = {"url": webhook, "format": "slack" if slack else "json"}
    if email:
        spec["deliveries"]["email"] = {"to": email, "from": mail_from, "smtp_host": smtp_host,
                                       "smtp_port": smtp_port, "starttls": starttls,
                                       "username": smtp_user, "password_env": password_env}
    if atom:
        spec["deliveries"]["atom"] = {"path": str(atom.resolve())}
    try:
        alert = parse_alert(spec, "rasd alerts add")
        _, engine, prefix = _open()
        add_alert(engine, prefix, alert, replace=replace)
    except RasdError as exc:
        _fail(exc)
    console.print(f"alert {name} added ({frequency}); deliveries: {escape(_deliveries(alert))}")


@alerts_app.command("import")
def import_cmd(path: Annotated[Path, typer.Argument(help="YAML file with alerts: [...]")],
               replace: Annotated[bool, typer.Option(help="replace alerts of the same name")] = False) -> None:
    """Add every alert of a YAML file (each query checked by the engine)."""
    from rasd.alerts.match import add_alert, load_alerts_file

    try:
        alerts = load_alerts_file(path)
        _, engine, prefix = _open()
        for alert in alerts:
            add_alert(engine, prefix, alert, replace=replace)
    except RasdError as exc:
        _fail(exc)
    console.print(f"{len(alerts)} alerts added from {path}")


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
    for col in ("name", "query", "filters", "frequency", "deliveries"):
        table.add_column(col)
    for a in alerts:
        f = a.filters
        filters = " ".join(f"{k}={','.join(v)}" for k, v in
                           (("outlet", f.outlets), ("lang", f.languages), ("topic", f.topics)) if v)
        table.add_row(a.name, escape(a.query), filters, a.frequency, escape(_deliveries(a)))
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


@alerts_app.command("test")
def test_cmd(
    name: str,
    since: Annotated[str, typer.Option(help="look back this far: 7d, 12h, 2w, 2024-01-01, now-30d")] = "7d",
    limit: Annotated[int, typer.Option(help="at most this many articles")] = 1000,
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
    """Queue and send the daily/weekly digests that are due, then retry pending deliveries."""
    from rasd.alerts.match import list_alerts
    from rasd.alerts.outbox import deliver_pending, send_digests

    try:
        settings, engine, prefix = _open(data_dir)
        store = _store(settings)
        sent = send_digests(store, list_alerts(engine, prefix), force=force)
        report = deliver_pending(store)
    except RasdError as exc:
        _fail(exc)
    for name, n in sent.items():
        console.print(f"{name}: digest with {n} stories" if n else f"{name}: nothing new")
    _report(report, store)


@alerts_app.command("deliver")
def deliver_cmd(data_dir: Annotated[Optional[Path], typer.Option(help="data directory (alerts.sqlite)")] = None) -> None:
    """Retry every pending delivery in the outbox now (backoff ignored)."""
    from rasd.alerts.outbox import deliver_pending
    from rasd.core.settings import load_settings

    try:
        store = _store(load_settings(data_dir=data_dir))
        report = deliver_pending(store, force=True)
    except RasdError as exc:
        _fail(exc)
    _report(report, store)


def _report(report, store) -> None:
    counts = store.outbox_counts()
    console.print(f"deliveries: {report.delivered} sent now, {report.failed} failed now; outbox: "
                  f"{counts['delivered']} delivered, {counts['pending']} pending")
    for line in report.errors or []:
        err.print(escape(line), highlight=False)
    if counts["pending"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``alerts`` (with its subcommands) to the ``rasd`` app."""
    app.add_typer(alerts_app, name="alerts")
