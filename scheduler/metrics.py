"""Prometheus metrics of a data directory, served by long-running processes (``--metrics-port``).

:class:`DataDirCollector` is a ``prometheus_client`` custom collector: at every scrape it reads
the data directory's own records — the run history (``runs.sqlite``), the stored health, the
archive and the index followers' checkpoints, the alert outbox — so the numbers are the ones
``rasd status`` shows, whichever process (scheduler, web app) serves them, and survive restarts
(counters are sums over the stored runs, not in-memory counts).  Families (names as
``prometheus_client`` exposes them):

* ``rasd_outcomes_total{outlet, outcome}`` — pages by outcome, the crawl's outcome names
  (``archived``, ``duplicate``, ``skipped/too_little_text``, ``failed/http_503``,
  ``deferred/retry_after`` …), summed over the outlet's scheduled runs;
* ``rasd_listing_fetches_total{outlet, result}`` — listing requests by result: ``200``,
  ``304``, ``forced`` (unconditional polls forced by a stuck server), ``failed``;
* ``rasd_listing_bytes_total{outlet, kind}`` — ``saved`` by 304s, ``spent`` on forced and
  distrusted full fetches;
* ``rasd_runs_total{outlet, outcome}``; ``rasd_run_duration_seconds{outlet}`` (a summary:
  ``_count``/``_sum`` over finished runs); ``rasd_last_run_duration_seconds{outlet}``;
* ``rasd_last_success_timestamp_seconds{outlet}`` — end of the last ``ok`` run;
* ``rasd_outlet_health{outlet, state}`` — 1 for the outlet's current state
  (:func:`rasd.scheduler.health.assess`), 0 for the others;
* ``rasd_scheduler_up`` (1 while a scheduler beats for the directory) and
  ``rasd_scheduler_heartbeat_timestamp_seconds``;
* ``rasd_index_lag_lines{index}`` — archive lines an index follower has not applied yet;
* ``rasd_alert_outbox{state}`` — outbox rows by state (``pending``, ``delivered``, ``dropped``).

:func:`serve` starts ``prometheus_client.start_http_server`` on ``host:port`` (default
127.0.0.1) with a registry holding only this collector.  A family whose source cannot be read
(a file missing or locked) is left out of that scrape, logged, never an error page.
"""

from __future__ import annotations

import logging
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily

from rasd.scheduler.health import STATES, Rules

log = logging.getLogger("rasd.metrics")


class DataDirCollector:
    """Collects the metrics of ``data_dir`` (see the module docstring) at each scrape."""

    def __init__(self, data_dir: Path, rules: Rules | None = None):
        self.data_dir, self.rules = Path(data_dir), rules

    def describe(self):  # no description: families are built at scrape time
        return []

    def collect(self):
        for part in (self._runs, self._scheduler, self._index, self._outbox):
            try:
                yield from part()
            except Exception as exc:  # one unreadable source must not fail the scrape
                log.warning("metrics_source_failed source=%s error=%s", part.__name__, exc)

    def _runs(self):
        path = self.data_dir / "runs.sqlite"
        if not path.exists():
            return
        from rasd.scheduler.history import RunHistory

        history = RunHistory(path)
        outcomes = CounterMetricFamily("rasd_outcomes", "Pages by crawl outcome, per outlet",
                                       labels=["outlet", "outcome"])
        fetches = CounterMetricFamily("rasd_listing_fetches", "Listing requests by result",
                                      labels=["outlet", "result"])
        nbytes = CounterMetricFamily("rasd_listing_bytes", "Listing bytes saved by 304s or spent on forced polls",
                                     labels=["outlet", "kind"])
        runs = CounterMetricFamily("rasd_runs", "Scheduled runs by outcome", labels=["outlet", "outcome"])
        duration = SummaryMetricFamily("rasd_run_duration_seconds", "Run durations", labels=["outlet"])
        last_duration = GaugeMetricFamily("rasd_last_run_duration_seconds", "Duration of the last run",
                                          labels=["outlet"])
        last_ok = GaugeMetricFamily("rasd_last_success_timestamp_seconds", "End of the last ok run",
                                    labels=["outlet"])
        health = GaugeMetricFamily("rasd_outlet_health", "1 for the outlet's health state",
                                   labels=["outlet", "state"])
        for slug, entry in history.status(rules=self.rules).items():
            out: dict[str, int] = {}
            fetch = {"200": 0, "304": 0, "forced": 0, "failed": 0}
            saved = spent = 0
            by_outcome: dict[str, int] = {}
            durations = []
            for r in history.runs(slug):
                by_outcome[r["outcome"]] = by_outcome.get(r["outcome"], 0) + 1
                if r["started_at"] and r["ended_at"] and r["outcome"] != "missed":
                    durations.append(r["ended_at"] - r["started_at"])
                d = r.get("detail") or {}
                for k, v in (d.get("outcomes") or {}).items():
                    out[k] = out.get(k, 0) + v
                c = d.get("conditional") or {}
                for k in fetch:
                    fetch[k] += c.get(f"fetch/{k}", 0)
                saved, spent = saved + c.get("bytes_saved", 0), spent + c.get("bytes_spent", 0)
            for k, v in sorted(out.items()):
                outcomes.add_metric([slug, k], v)
            for k, v in fetch.items():
                fetches.add_metric([slug, k], v)
            nbytes.add_metric([slug, "saved"], saved)
            nbytes.add_metric([slug, "spent"], spent)
            for k, v in sorted(by_outcome.items()):
                runs.add_metric([slug, k], v)
            duration.add_metric([slug], len(durations), sum(durations))
            if durations:
                last_duration.add_metric([slug], durations[-1])
            if entry.get("last_ok_at"):
                last_ok.add_metric([slug], entry["last_ok_at"])
            for state in STATES:
                health.add_metric([slug, state], 1.0 if entry["state"] == state else 0.0)
        yield from (outcomes, fetches, nbytes, runs, duration, last_duration, last_ok, health)

    def _scheduler(self):
        from rasd.scheduler.heartbeat import liveness, read_heartbeat

        hb = read_heartbeat(self.data_dir)
        up = GaugeMetricFamily("rasd_scheduler_up", "1 while a scheduler beats for this data directory")
        up.add_metric([], 1.0 if liveness(self.data_dir)["running"] else 0.0)
        yield up
        if hb is not None:
            beat = GaugeMetricFamily("rasd_scheduler_heartbeat_timestamp_seconds", "The scheduler's last heartbeat")
            beat.add_metric([], float(hb.get("beat_at") or 0))
            yield beat

    def _index(self):
        waiting = index_waiting(self.data_dir)
        if waiting is None:
            return
        family = GaugeMetricFamily("rasd_index_lag_lines", "Archive lines not yet in the index", labels=["index"])
        for index, lines in waiting.items():
            family.add_metric([index], lines)
        yield family

    def _outbox(self):
        path = self.data_dir / "alerts.sqlite"
        if not path.exists():
            return
        from rasd.alerts.outbox import AlertStore

        store = AlertStore(path)
        try:
            counts = store.outbox_counts()
        finally:
            store.close()
        family = GaugeMetricFamily("rasd_alert_outbox", "Alert outbox rows by state", labels=["state"])
        for state in ("pending", "delivered", "dropped"):
            family.add_metric([state], counts.get(state, 0))
        yield family


def index_waiting(data_dir: Path, expected: str | None = None) -> dict[str, int] | None:
    """``{index: archive lines its follower has not applied}`` for every index follower of the
    data directory, and for ``expected`` (the index the settings name, when indexing is on) even
    if its follower never applied a line — every line waits then; ``None`` when there is
    nothing to say.  Read from the checkpoints, the engine not asked."""
    path, archive = Path(data_dir) / "followers.sqlite", Path(data_dir) / "archive"
    if not archive.exists():
        return None
    if not path.exists():
        if expected is None:
            return None
        from rasd.core.archive import lag

        return {expected: lag(archive, {})[0]}
    from rasd.core.archive import lag
    from rasd.core.sqlite import connect

    db = connect(path, what="the followers' checkpoints")
    try:
        rows = db.execute("SELECT follower, file, offset FROM archive_checkpoints "
                          "WHERE follower LIKE 'index:%'").fetchall()
    finally:
        db.close()
    points: dict[str, dict[str, int]] = {}
    for follower, name, offset in rows:
        points.setdefault(follower, {})[name] = offset
    out: dict[str, int] = {}
    for follower, checkpoints in sorted(points.items()):
        index = follower.removeprefix("index:").split("@", 1)[0]
        out[index] = out.get(index, 0) + lag(archive, checkpoints)[0]
    if expected is not None and expected not in out:
        out[expected] = lag(archive, {})[0]
    return out


def alerts_waiting(data_dir: Path) -> dict[str, int] | None:
    """``{"lines": archive lines the alert matcher has not matched, "pending": outbox rows not
    delivered}`` (``None`` when the alert matcher never ran here); the engine not asked."""
    path, archive = Path(data_dir) / "alerts.sqlite", Path(data_dir) / "archive"
    if not path.exists():
        return None
    from rasd.alerts.outbox import AlertStore
    from rasd.core.archive import lag

    store = AlertStore(path)
    try:
        checkpoints = store.checkpoints.load()
        started = store.db.execute("SELECT 1 FROM meta_alerts WHERE key = 'started'").fetchone()
        if not checkpoints and not started:  # no alert matcher ever ran here
            return None
        lines = lag(archive, checkpoints)[0] if archive.exists() else 0
        return {"lines": lines, "pending": store.pending_count()}
    finally:
        store.close()


def registry_for(data_dir: Path, rules: Rules | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DataDirCollector(data_dir, rules))
    return registry


def serve(data_dir: Path, port: int, host: str = "127.0.0.1", rules: Rules | None = None):
    """Serve the metrics of ``data_dir`` on ``http://host:port/metrics`` from a daemon thread;
    returns ``(server, thread)`` (``server.shutdown()`` stops it).

    Raises:
        OSError: the port cannot be bound (the CLI says so in one line).
    """
    server, thread = start_http_server(port, addr=host, registry=registry_for(data_dir, rules))
    log.info("metrics_serving url=http://%s:%d/metrics", host, server.server_port)
    return server, thread
