"""Benchmark: state that does not grow into every run, and the cost of starting a crawl.

Three measurements in one run, each in paired, interleaved rounds (``bench/paired.py``):

1. **Every store at 10k, 100k and 1M rows** (``--sizes``): the seen-URL store
   (:class:`rasd.pipelines.seenstore.SeenStore`), the story window
   (:class:`rasd.pipelines.storyindex.StoryIndex`), the feed state
   (:class:`rasd.crawler.feedstate.FeedState`), the run history
   (:class:`rasd.scheduler.history.RunHistory`), the alert history (the once-per-story record,
   ``stories`` and ``seen`` of :class:`rasd.alerts.outbox.AlertStore`) and archive reading
   (:mod:`rasd.core.archive`).  Each file is filled once before any timing, through the store's
   own class (its schema, migrations and meta rows) and then with bulk SQL inserts in that
   schema (the archive: day files of JSON lines, the followers' checkpoints at their ends).
   Each round probes every size of every store in a fresh process (``--probe``, in an order
   rotated from round to round), which prints: the time to open the store as a crawl or a
   scheduled run opens it, the process's RSS after opening (and what opening added), and the
   median time of one lookup, the one a run makes per item:

   ========  ==============================================  ===============================
   store     open                                            lookup
   ========  ==============================================  ===============================
   seen      ``SeenStore(path)``                             ``is_known_url`` (half known)
   stories   ``StoryIndex(path)`` (meta check, prune)        ``best_match`` (half near-dups)
   feeds     ``FeedState(path)``                             ``conditional_headers`` + ``entries``
   runs      ``RunHistory(path)``                            ``last_ok_start`` + ``outlet_state``
   alerts    ``AlertStore(path)``                            ``is_new_story`` (half known)
   archive   torn-tail check + a follower's catch-up at      a follower reading the lines after
             its checkpoint (nothing new)                    its checkpoint, per line
   ========  ==============================================  ===============================

   The table gives the medians and, per store, the ratios largest ÷ smallest size; the story
   lookup ratio has a target (≤ 2).

2. **A one-page crawl with big state ÷ with none**: ``rasd crawl`` of a one-page loopback
   outlet (``rasd.replay.recording``, served by ``rasd.replay.server`` from this process, so
   neither side pays for the server) into a data directory holding a ``--window``-row story
   window (default 300,000, every row inside the 7-day window) and a ``--seen``-URL seen store
   (default 1,000,000), against the same crawl into an empty data directory.  Every round
   crawls a page generated for that round (a new article on both sides); wall time and the
   crawl process's peak RSS; targets ≤ 1.2 each.

3. **The crawl's CPU ÷ a bare Scrapy + trafilatura spider's** (``bench/barespider.py``) on the
   same page from the same server, in the same rounds: user + system CPU of every process each
   side started (this process is a child subreaper, ``prctl(PR_SET_CHILD_SUBREAPER)``, so the
   extraction workers' fork server and workers, orphaned when the crawl exits, are reaped and
   counted here too); target ≤ 1.5.  The bare spider extracts inline; Rasd's side runs with
   its defaults (two extraction worker processes), whose CPU counts.

    .venv/bin/python bench/state.py [--sizes 10000,100000,1000000] [--window 300000]
                                    [--seen 1000000] [--rounds 5] [--store-rounds 3]

Cost of building (not timed), on the 2-core development machine at the default sizes: the
stores about 5 minutes (story rows are the slow part, 25 band rows each: 1.11M of them took
230 s) and 1.7 GB in ``$TMPDIR``, the crawls' state about a minute and 0.9 GB; ten minutes in
all.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from paired import Rounds, loadavg, rotation, run_rounds  # noqa: E402

STORES = ("seen", "stories", "feeds", "runs", "alerts", "archive")
TARGETS = {"wall": 1.2, "rss": 1.2, "story_lookup": 2.0, "cpu": 1.5}
OUTLETS = 64
BASE_ROWS = 10_000  # story rows shared by every size (the near-duplicate probes' originals)
SEED = 20261201
BATCH = 20_000


# ---- filling the stores ------------------------------------------------------------------------
def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _fast(db: sqlite3.Connection) -> None:
    """Build-time only: no fsync, big page cache (the stores open with their own settings)."""
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -262144")


def url_of(i: int) -> str:
    return f"https://outlet-{i % OUTLETS:02d}.example/news/2026/{i // 1000:04d}/{i:08d}-story"


def fill_seen(path: Path, n: int) -> None:
    """``n`` articles, each under one canonical URL (the table ``urls`` then holds ``n`` rows)."""
    from rasd.pipelines.seenstore import SeenStore

    SeenStore(path).close()  # schema, version row
    db = sqlite3.connect(path, isolation_level=None)
    _fast(db)
    now = datetime.now(timezone.utc)
    for start in range(0, n, BATCH):
        rows = range(start, min(n, start + BATCH))
        at = _iso(now - timedelta(days=30))
        db.execute("BEGIN")
        db.executemany("INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [(f"{i:032x}", f"outlet-{i % OUTLETS:02d}", url_of(i), f"{i * 7919:032x}", 1800,
                         at, None, at) for i in rows])
        db.executemany("INSERT INTO urls VALUES (?, ?, ?, ?, ?)",
                       [(url_of(i), f"outlet-{i % OUTLETS:02d}", "new", f"{i:032x}", at) for i in rows])
        db.execute("COMMIT")
    db.close()


def base_signatures(num_perm: int):
    import numpy as np

    return np.random.default_rng(SEED).integers(0, 1 << 32, size=(BASE_ROWS, num_perm), dtype=np.uint32)


def fill_stories(path: Path, n: int) -> None:
    """``n`` signatures (the first :data:`BASE_ROWS` the same at every size, the rest random),
    archived over the last 6 days (inside the 7-day window of a crawl run now), in the rows
    :meth:`StoryIndex.add` writes: ``sigs`` and one ``bands`` row per band key."""
    import numpy as np

    from rasd.pipelines.storyindex import StoryIndex, StoryParams

    params = StoryParams()
    index = StoryIndex(path, params)  # schema, meta, banding
    keys_of = index.band_keys
    index.close()
    base = base_signatures(params.num_perm)
    rng = np.random.default_rng(SEED + n)
    db = sqlite3.connect(path, isolation_level=None)
    _fast(db)
    now = datetime.now(timezone.utc)
    span = 6 * 86400
    for start in range(0, n, BATCH):
        stop = min(n, start + BATCH)
        shared = base[start:min(stop, BASE_ROWS)]
        values = np.vstack([shared, rng.integers(0, 1 << 32, size=(stop - start - len(shared), params.num_perm),
                                                 dtype=np.uint32)])
        sigs, bands = [], []
        for i, v in zip(range(start, stop), values):
            at = _iso(now - timedelta(seconds=span * (n - i) / n))
            sigs.append((i + 1, f"{i:032x}", f"outlet-{i % OUTLETS:02d}", at, at, f"{i:032x}", v.tobytes()))
            bands.extend((k, i + 1) for k in keys_of(v))
        bands.sort()
        db.execute("BEGIN")
        db.executemany("INSERT INTO sigs (rowid, id, outlet, at, seen_at, story_id, hashvalues) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", sigs)
        db.executemany("INSERT INTO bands VALUES (?, ?)", bands)
        db.execute("COMMIT")
    db.close()


def _entries_json(i: int) -> str:
    return json.dumps([{"url": f"{url_of(i * 3 + k)}", "title": f"خبر رقم {i * 3 + k}",
                        "published_at": "2026-11-30T10:00:00+00:00"} for k in range(3)], ensure_ascii=False)


def feed_url(i: int) -> str:
    return f"https://outlet-{i % OUTLETS:02d}.example/feeds/{i:08d}.xml"


def fill_feeds(path: Path, n: int) -> None:
    """``n`` listing URLs with validators, a body hash and three remembered entries each."""
    from rasd.crawler.feedstate import FeedState

    FeedState(path)
    db = sqlite3.connect(path, isolation_level=None)
    _fast(db)
    t = time.time()
    for start in range(0, n, BATCH):
        db.execute("BEGIN")
        db.executemany("INSERT INTO feeds (url, etag, last_modified, body_hash, children, liar, updated_at, "
                       "entries) VALUES (?, ?, ?, ?, '[]', 0, ?, ?)",
                       [(feed_url(i), f'"{i:x}"', "Mon, 30 Nov 2026 10:00:00 GMT", f"{i:016x}", t,
                         _entries_json(i)) for i in range(start, min(n, start + BATCH))])
        db.execute("COMMIT")
    db.close()


def fill_runs(path: Path, n: int) -> None:
    """``n`` finished runs over :data:`OUTLETS` outlets (one run an outlet every few minutes),
    plus each outlet's adaptive state."""
    from rasd.scheduler.history import RunHistory

    RunHistory(path)
    db = sqlite3.connect(path, isolation_level=None)
    _fast(db)
    t0 = time.time() - n * 5
    for start in range(0, n, BATCH):
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO runs (outlet, scheduled_at, started_at, ended_at, outcome, pages, archived, "
            "listed, skips, interval_after, interval_reason, new, cpu_seconds, max_rss_kb) "
            "VALUES (?, ?, ?, ?, ?, 3, 1, 20, '{}', 900, 'steady', 1, 1.1, 112000)",
            [(f"outlet-{i % OUTLETS:02d}", t0 + i * 5, t0 + i * 5, t0 + i * 5 + 3,
              "ok" if i % 10 else "failed") for i in range(start, min(n, start + BATCH))])
        db.execute("COMMIT")
    db.executemany("INSERT OR REPLACE INTO outlets VALUES (?, 900, 0)",
                   [(f"outlet-{k:02d}",) for k in range(OUTLETS)])
    db.close()


ALERTS = 100


def fill_alerts(path: Path, n: int) -> None:
    """``n`` (alert, story) records over :data:`ALERTS` alerts, each with its article in
    ``seen``, and one delivered outbox row per ten."""
    from rasd.alerts.outbox import AlertStore

    AlertStore(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    _fast(db)
    at = _iso(datetime.now(timezone.utc) - timedelta(days=3))
    for start in range(0, n, BATCH):
        rows = range(start, min(n, start + BATCH))
        db.execute("BEGIN")
        db.executemany("INSERT INTO stories VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, 1, NULL)",
                       [(f"alert-{i % ALERTS:03d}", f"{i:032x}", f"{i:032x}", f"عنوان {i}", url_of(i),
                         f"outlet-{i % OUTLETS:02d}", at, at, json.dumps([f"outlet-{i % OUTLETS:02d}"]))
                        for i in rows])
        db.executemany("INSERT INTO seen VALUES (?, ?)", [(f"alert-{i % ALERTS:03d}", f"{i:032x}") for i in rows])
        db.executemany("INSERT INTO outbox (alert, channel, target, message, created_at, attempts, "
                       "next_attempt_at, delivered_at, notification_id) VALUES (?, 'webhook', '{}', '{}', ?, 1, "
                       "?, ?, ?)", [(f"alert-{i % ALERTS:03d}", at, at, at, f"n{i:031x}")
                                    for i in rows if i % 10 == 0])
        db.execute("COMMIT")
    db.close()


ARCHIVE_DAYS = 7


def fill_archive(directory: Path, n: int) -> None:
    """``n`` archive lines (short records: id, url, outlet, dates, 300 characters of text) over
    :data:`ARCHIVE_DAYS` day files; a follower's checkpoints (SQLite, ``checkpoints.sqlite``)
    at the end of every file."""
    from rasd.core.archive import Checkpoints, encode_line, sizes

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "amendments").mkdir(exist_ok=True)
    text = ("نص الخبر " * 30).strip()
    per_day = -(-n // ARCHIVE_DAYS)
    day0 = datetime.now(timezone.utc) - timedelta(days=ARCHIVE_DAYS)
    for d in range(ARCHIVE_DAYS):
        day = day0 + timedelta(days=d)
        with open(directory / f"{day:%Y-%m-%d}.jsonl", "wb") as f:
            for i in range(d * per_day, min(n, (d + 1) * per_day)):
                f.write(encode_line({"schema_version": 3, "id": f"{i:032x}", "url": url_of(i),
                                     "outlet": f"outlet-{i % OUTLETS:02d}", "fetched_at": _iso(day),
                                     "title": f"عنوان {i}", "text": text}))
    db = sqlite3.connect(directory.parent / "checkpoints.sqlite", isolation_level=None)
    cp = Checkpoints(db, "bench")
    cp.save(sizes(directory))
    db.close()


FILL = {"seen": fill_seen, "stories": fill_stories, "feeds": fill_feeds, "runs": fill_runs,
        "alerts": fill_alerts, "archive": fill_archive}


def store_path(tmp: Path, store: str, n: int) -> Path:
    return tmp / f"{store}-{n}" / ("archive" if store == "archive" else f"{store}.sqlite")


# ---- probing one store (in a fresh process) ----------------------------------------------------
def rss_kb() -> int:
    """This process's resident set size now (``VmRSS`` of ``/proc/self/status``), kB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _timed(fn, items) -> float:
    """Median seconds of ``fn(item)`` over ``items``."""
    times = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def probe(store: str, path: Path, n: int, lookups: int) -> dict:
    """Open ``store`` at ``path`` (``n`` rows) and time ``lookups`` lookups; see the module
    docstring.  Imports happen before the clock starts."""
    import random

    import numpy as np  # noqa: F401  (the story index's; imported before timing like the rest)

    from rasd.alerts.outbox import AlertStore
    from rasd.core.archive import Checkpoints, close_torn_tails, follow, sizes
    from rasd.crawler.feedstate import FeedState
    from rasd.pipelines.seenstore import SeenStore
    from rasd.pipelines.storyindex import Signature, StoryIndex, StoryParams
    from rasd.scheduler.history import RunHistory

    rng = random.Random(SEED)
    if store == "stories":  # probes made before the clock: near-duplicates of base rows, randoms
        params = StoryParams()
        base = base_signatures(params.num_perm)
        nrng = np.random.default_rng(SEED + 1)
        picked = base[nrng.integers(0, BASE_ROWS, size=lookups // 2)].copy()
        mask = nrng.random(picked.shape) < 0.1
        picked[mask] = nrng.integers(0, 1 << 32, size=int(mask.sum()), dtype=np.uint32)
        fresh = nrng.integers(0, 1 << 32, size=(lookups - len(picked), params.num_perm), dtype=np.uint32)
        sigs = [Signature(v, params.seed) for v in np.vstack([picked, fresh])]
    before = rss_kb()
    t0 = time.perf_counter()
    found = 0
    if store == "seen":
        s = SeenStore(path)
        opened = time.perf_counter()
        keys = [url_of(rng.randrange(n)) if k % 2 == 0 else url_of(n + rng.randrange(n)) for k in range(lookups)]
        lookup = _timed(s.is_known_url, keys)
        found = sum(map(s.is_known_url, keys))
    elif store == "stories":
        s = StoryIndex(path)
        opened = time.perf_counter()
        lookup = _timed(s.best_match, sigs)
        found = sum(s.best_match(x) is not None for x in sigs)
    elif store == "feeds":
        s = FeedState(path)
        opened = time.perf_counter()
        keys = [feed_url(rng.randrange(n)) for _ in range(lookups)]
        lookup = _timed(lambda u: (s.conditional_headers(u), s.entries(u)), keys)
        found = sum(s.entries(u) is not None for u in keys)
    elif store == "runs":
        s = RunHistory(path)
        opened = time.perf_counter()
        keys = [f"outlet-{rng.randrange(OUTLETS):02d}" for _ in range(lookups)]
        lookup = _timed(lambda o: (s.last_ok_start(o), s.outlet_state(o)), keys)
        found = sum(s.last_ok_start(o) is not None for o in keys)
    elif store == "alerts":
        s = AlertStore(path)
        opened = time.perf_counter()
        keys = [rng.randrange(n) if k % 2 == 0 else n + rng.randrange(n) for k in range(lookups)]
        docs = [{"id": f"{i:032x}", "story_id": f"{i:032x}"} for i in keys]
        lookup = _timed(lambda d: s.is_new_story(f"alert-{int(d['id'], 16) % ALERTS:03d}", d), docs)
        found = sum(not s.is_new_story(f"alert-{int(d['id'], 16) % ALERTS:03d}", d) for d in docs)
    else:  # archive: what every run does at start, then reading after a checkpoint
        db = sqlite3.connect(path.parent / "checkpoints.sqlite", isolation_level=None)
        cp = Checkpoints(db, "bench")
        close_torn_tails(path)
        assert not list(follow(path, cp.load()))  # caught up: nothing after the checkpoints
        opened = time.perf_counter()
        last = sorted(sizes(path))[-1]
        ends = [line.start for line in follow(path, {f: o for f, o in sizes(path).items() if f != last},
                                              [last], limit=None)][-lookups:]
        starts = [ends[rng.randrange(len(ends))] for _ in range(min(lookups, 200))]
        per = []
        for start in starts:  # a follower 50 lines behind: read them, per line
            t = time.perf_counter()
            got = list(follow(path, {last: start}, [last], limit=50))
            per.append((time.perf_counter() - t) / max(1, len(got)))
            found += len(got)
        lookup = statistics.median(per)
        db.close()
    return {"open_s": opened - t0, "rss_kb": rss_kb(), "rss_open_kb": rss_kb() - before,
            "lookup_s": lookup, "found": found}


def run_probe(store: str, path: Path, n: int, lookups: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--probe", store, str(path), str(n), str(lookups)],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"probe {store} {n} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- crawls ------------------------------------------------------------------------------------
def become_subreaper() -> None:
    """Orphaned descendants (the extraction fork server and workers) become this process's
    children, so their CPU is reaped and counted here (Linux ``PR_SET_CHILD_SUBREAPER``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def measure(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd`` and every process it starts to their end: wall seconds until ``cmd`` exits,
    CPU seconds of all of them (user + system), ``cmd``'s peak RSS (kB).

    The peak RSS is ``VmHWM`` of ``/proc/<pid>/status``, read every 20 ms while ``cmd`` runs
    (the last reading before it exits): ``ru_maxrss`` would not do, it survives ``execve`` and
    so starts at this process's own RSS at the fork."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak = 0
    while True:
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _hwm_kb(proc.pid))
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    while True:  # the orphans: reaped here, their CPU lands in RUSAGE_CHILDREN
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} … exited {proc.returncode}: {err[-1500:]}")
    return {"wall": wall, "cpu": r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime, "rss_kb": peak}


def _hwm_kb(pid: int) -> int:
    """Peak resident set size of a running process since its ``execve`` (``VmHWM``), kB; 0 once
    it is a zombie."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rasd_crawl(recording: Path, url: str, data: Path) -> dict:
    return measure([sys.executable, "-m", "rasd.cli.main", "crawl", "--replay", str(recording),
                    "--replay-url", url, "--data-dir", str(data), "--log-level", "WARNING"],
                   env={k: v for k, v in os.environ.items() if not k.startswith("RASD_")})


def archived(data: Path) -> int:
    return sum(1 for f in (data / "archive").glob("*.jsonl") for _ in open(f, "rb"))


def crawl_rounds(args, tmp: Path) -> dict[str, Rounds]:
    from rasd.replay.recording import make_recording
    from rasd.replay.server import ReplayServer, load_recording

    big = tmp / "big-state"
    big.mkdir(parents=True)
    t = time.perf_counter()
    fill_stories(big / "stories.sqlite", args.window)
    fill_seen(big / "seen.sqlite", args.seen)
    size = sum(p.stat().st_size for p in big.iterdir())
    print(f"crawl state: {args.window:,}-row story window and {args.seen:,}-URL seen store "
          f"({size / 1e6:.0f} MB) built in {time.perf_counter() - t:.0f} s", flush=True)
    become_subreaper()
    state = {"round": 0, "server": None}
    extra: dict[str, list[dict]] = {"empty": [], "big": [], "bare": []}

    def page_for_round(r: int):
        rec = tmp / f"rec-{r}"
        if not rec.exists():
            make_recording(rec, outlets=1, pages_per_outlet=1, syndicated_stories=0, seed=r)
        return rec

    def side(name: str):
        def run() -> float:
            r = state["round"]
            rec = page_for_round(r)
            url = state["server"].base_url
            if name == "bare":
                out = tmp / f"bare-{r}.jsonl"
                got = measure([sys.executable, str(BENCH / "barespider.py"), url,
                               f"https://akhbar-01.example/rss.xml", str(out)])
                assert out.read_text(encoding="utf-8").count("\n") == 1, "the bare spider got no page"
            else:
                data = big if name == "big" else tmp / f"empty-{r}"
                before = archived(data) if data.exists() else 0
                got = rasd_crawl(rec, url, data)
                assert archived(data) == before + 1, f"{name}: the page was not archived"
                if name == "empty":
                    shutil.rmtree(data)
            extra[name].append(got)
            return got["wall"]
        return run

    sides = {"empty": side("empty"), "big": side("big"), "bare": side("bare")}
    load_before = loadavg()
    total = args.rounds + 1  # one warm-up round (page cache, first imports)
    per_round: list[dict[str, dict]] = []
    for r in range(total):
        state["round"] = r
        site, _, _ = load_recording(page_for_round(r))
        with ReplayServer(site).start() as server:
            state["server"] = server
            got = {}
            for name in rotation(list(sides), r):
                sides[name]()
                got[name] = extra[name][-1]
        if r == 0:
            continue
        per_round.append(got)
        print(f"  round {r}: empty {got['empty']['wall']:.2f} s {got['empty']['rss_kb'] / 1024:.0f} MB "
              f"{got['empty']['cpu']:.2f} CPU-s | big {got['big']['wall']:.2f} s "
              f"{got['big']['rss_kb'] / 1024:.0f} MB {got['big']['cpu']:.2f} CPU-s | bare "
              f"{got['bare']['wall']:.2f} s {got['bare']['rss_kb'] / 1024:.0f} MB {got['bare']['cpu']:.2f} CPU-s",
              flush=True)
    load_after = loadavg()

    def rounds(metric: str, top: str, bottom: str) -> Rounds:
        values = {s: [g[s][metric] for g in per_round] for s in (top, bottom)}
        return Rounds(values, [g[top][metric] / g[bottom][metric] for g in per_round], load_before, load_after)

    return {"wall": rounds("wall", "big", "empty"), "rss": rounds("rss_kb", "big", "empty"),
            "cpu": rounds("cpu", "empty", "bare"), "raw": per_round}


# ---- the store table ---------------------------------------------------------------------------
def store_rounds(args, tmp: Path, sizes: list[int]) -> dict:
    for store in STORES:
        t = time.perf_counter()
        for n in sizes:
            path = store_path(tmp, store, n)
            path.parent.mkdir(parents=True, exist_ok=True)
            FILL[store](path, n)
        print(f"{store}: {', '.join(f'{n:,}' for n in sizes)} rows built in {time.perf_counter() - t:.0f} s",
              flush=True)
    results: dict[tuple[str, int], list[dict]] = {(s, n): [] for s in STORES for n in sizes}

    def side(store: str, n: int):
        def run() -> float:
            got = run_probe(store, store_path(tmp, store, n), n, args.lookups)
            results[(store, n)].append(got)
            return got["lookup_s"]
        return run

    lsh = None
    for store in STORES:
        sides = {str(n): side(store, n) for n in sizes}
        small, large = str(sizes[0]), str(sizes[-1])
        r = run_rounds(sides, lambda got: got[large] / got[small], args.store_rounds)
        if store == "stories":
            lsh = r
    return {"results": results, "stories": lsh}


def print_table(results: dict, sizes: list[int]) -> None:
    def med(store, n, key):
        return statistics.median(x[key] for x in results[(store, n)])

    print(f"\n{'store':8} {'rows':>10} {'open ms':>9} {'RSS MB':>7} {'+open MB':>8} {'lookup µs':>10}   found")
    for store in STORES:
        for n in sizes:
            print(f"{store:8} {n:>10,} {med(store, n, 'open_s') * 1e3:9.2f} {med(store, n, 'rss_kb') / 1024:7.1f} "
                  f"{med(store, n, 'rss_open_kb') / 1024:8.1f} {med(store, n, 'lookup_s') * 1e6:10.1f}   "
                  f"{results[(store, n)][-1]['found']}")
    lo, hi = sizes[0], sizes[-1]
    print(f"\nratios {hi:,} rows ÷ {lo:,} rows (medians): open time, RSS after open, lookup time")
    for store in STORES:
        print(f"  {store:8} open {med(store, hi, 'open_s') / med(store, lo, 'open_s'):6.2f}   RSS "
              f"{med(store, hi, 'rss_kb') / med(store, lo, 'rss_kb'):5.2f}   lookup "
              f"{med(store, hi, 'lookup_s') / med(store, lo, 'lookup_s'):5.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--window", type=int, default=300_000)
    ap.add_argument("--seen", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5, help="crawl rounds (after one warm-up)")
    ap.add_argument("--store-rounds", type=int, default=3)
    ap.add_argument("--lookups", type=int, default=1000)
    ap.add_argument("--skip-stores", action="store_true", help="only the crawls")
    ap.add_argument("--skip-crawls", action="store_true", help="only the store table")
    ap.add_argument("--probe", nargs=4, metavar=("STORE", "PATH", "ROWS", "LOOKUPS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        store, path, n, lookups = args.probe
        print(json.dumps(probe(store, Path(path), int(n), int(lookups))))
        return 0
    sizes = sorted(int(x) for x in args.sizes.split(","))
    if sizes[0] < BASE_ROWS:
        ap.error(f"the smallest size must be at least {BASE_ROWS:,} (the shared story rows)")
    ok = True
    lines = []
    with tempfile.TemporaryDirectory(prefix="rasd-bench-state-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.skip_stores:
            stores = store_rounds(args, tmp / "stores", sizes)
            print_table(stores["results"], sizes)
            r = stores["stories"]
            lines.append(r.line(f"story lookup (StoryIndex.best_match at {sizes[-1]:,} / {sizes[0]:,} rows)",
                                TARGETS["story_lookup"]))
            ok &= r.ok(TARGETS["story_lookup"])
            shutil.rmtree(tmp / "stores")
        if not args.skip_crawls:
            print(f"\none-page crawls: rasd crawl with big state / empty state / bare Scrapy + trafilatura "
                  f"spider, {args.rounds} paired rounds after one warm-up", flush=True)
            crawls = crawl_rounds(args, tmp / "crawls")
            for key, name in (("wall", f"one-page crawl wall, {args.window:,}-row story window + "
                                       f"{args.seen:,}-URL seen store / empty state"),
                              ("rss", "one-page crawl peak RSS, big state / empty state"),
                              ("cpu", "one-page crawl CPU (rasd crawl, its extraction workers too) / bare "
                                      "Scrapy + trafilatura spider")):
                lines.append(crawls[key].line(name, TARGETS[key]))
                ok &= crawls[key].ok(TARGETS[key])
            for side in ("empty", "big", "bare"):
                g = [x[side] for x in crawls["raw"]]
                print(f"  {side:5}: wall {statistics.median(x['wall'] for x in g):.2f} s, CPU "
                      f"{statistics.median(x['cpu'] for x in g):.2f} s, peak RSS "
                      f"{statistics.median(x['rss_kb'] for x in g) / 1024:.0f} MB (medians)")
    print()
    for line in lines:
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
