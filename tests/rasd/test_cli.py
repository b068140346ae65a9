"""The CLI's contract with users: one-line errors, exit codes (real child processes)."""

import os
import subprocess
import sys

import pytest
import yaml


def _rasd(*args, env=None):
    return subprocess.run([sys.executable, "-m", "rasd.cli.main", *args], capture_output=True, text=True,
                          timeout=180, env={**os.environ, **(env or {})})


def test_bad_setting_is_one_line_not_a_traceback():
    proc = _rasd("outlets", env={"RASD_CRAWL__MIN_TEXT_CHARS": "abc"})
    assert proc.returncode == 2
    assert "crawl.min_text_chars" in proc.stderr and "Traceback" not in proc.stderr


def test_unreadable_seed_file_names_the_file(tmp_path):
    (tmp_path / "bad.yaml").write_bytes(b"name: \xff\xfe")
    proc = _rasd("outlets", env={"RASD_SEEDS_DIR": str(tmp_path)})
    assert proc.returncode == 2 and "bad.yaml" in proc.stderr and "Traceback" not in proc.stderr


def test_markup_like_text_in_errors_is_shown_verbatim(tmp_path):
    (tmp_path / "x.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    proc = _rasd("outlets", env={"RASD_SEEDS_DIR": str(tmp_path)})
    assert proc.returncode == 2 and "[unclosed" in proc.stderr


def test_crawl_where_no_feed_can_be_read_exits_1(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "closed.yaml").write_text(yaml.safe_dump({
        "name": "Closed", "country": "ZZ", "homepage": "http://127.0.0.1:9/", "domains": ["127.0.0.1"],
        "feeds": ["http://127.0.0.1:9/rss.xml"], "politeness": {"download_delay": 0}}), encoding="utf-8")
    proc = _rasd("crawl", "--data-dir", str(tmp_path / "data"),
                 env={"RASD_SEEDS_DIR": str(seeds), "RASD_CRAWL__RETRY_TIMES": "0", "RASD_CRAWL__OBEY_ROBOTS": "false"})
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "none of the 1 feeds and sitemaps could be read" in proc.stderr
    assert "connection" in proc.stdout  # the summary's reason: feeds failed: connection 1


def test_status_of_a_directory_without_scheduler_data(tmp_path):
    missing = tmp_path / "typo"
    proc = _rasd("status", "--data-dir", str(missing))
    assert proc.returncode == 2 and "no such data directory" in proc.stderr
    assert not missing.exists()
    proc = _rasd("status", "--data-dir", str(tmp_path))
    assert proc.returncode == 0 and "no scheduled runs recorded" in proc.stdout
    assert not (tmp_path / "runs.sqlite").exists()


def test_schedule_refuses_a_non_positive_interval(tmp_path):
    proc = _rasd("schedule", "--interval-seconds", "-5", "--data-dir", str(tmp_path))
    assert proc.returncode == 2 and "interval-seconds" in proc.stderr
    assert not (tmp_path / "jobs.sqlite").exists()


# --- one console setup -------------------------------------------------------------------------

def test_every_command_module_uses_the_two_shared_consoles():
    import ast
    from pathlib import Path

    from rasd.cli import alerts, common, index, main, schedule, topics

    for module in (alerts, index, main, schedule):
        assert module.console is common.console and module.err is common.err, module.__name__
    assert topics.console is common.console
    made = [p.name for p in sorted(Path(common.__file__).parent.glob("*.py"))
            for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
            if isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) in ("Console", "_Console")]
    assert made == ["common.py", "common.py"]  # console and err, nowhere else


def test_both_consoles_are_132_columns_when_piped_unless_columns_says_otherwise():
    code = "from rasd.cli.common import console, err; print(console.width, err.width)"
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    piped = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert piped.stdout.split() == ["132", "132"]
    wide = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**env, "COLUMNS": "200"})
    assert wide.stdout.split() == ["200", "200"]


def test_crawl_notes_on_a_pipe_are_whole_lines(tmp_path):
    """``rasd crawl --replay`` with a manifest row that cannot be replayed: the note naming it is
    one line on stderr even when longer than any terminal (it was wrapped at 80 columns)."""
    import shutil
    from pathlib import Path

    corpus = Path(__file__).resolve().parents[1] / "fixtures" / "corpus"
    (tmp_path / "rec" / "seed").mkdir(parents=True)
    shutil.copy(corpus / "seed" / "euronews-original.html", tmp_path / "rec" / "seed")
    header, *rows = (corpus / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()
    [row] = [r for r in rows if r.startswith("seed/euronews-original.html\t")]
    missing = "seed/" + "a-page-with-a-very-long-file-name-" * 5 + "missing.html"
    (tmp_path / "rec" / "MANIFEST.tsv").write_text(
        "\n".join([header, row, missing + row[len("seed/euronews-original.html"):]]) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS" and not k.startswith("RASD_")}
    proc = subprocess.run([sys.executable, "-m", "rasd.cli.main", "crawl", "--replay", str(tmp_path / "rec"),
                           "--data-dir", str(tmp_path / "data")], capture_output=True, text=True,
                          timeout=300, env={**env, "RASD_CRAWL__EXTRACT_WORKERS": "0"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    note = f"  not replayed: {missing}: file missing"
    assert len(note) > 132 and note in proc.stderr.splitlines()
    lines = proc.stdout.splitlines()  # the crawl's own lines on stdout are whole too
    assert lines[0].startswith("replaying 1 recorded pages from ") and lines[0].endswith(
        "; 1 manifest article rows not replayable:")
    assert lines[-1] == f"archive: {tmp_path / 'data' / 'archive'}   log: {tmp_path / 'data' / 'logs' / 'crawl.log'}"


def test_failures_have_one_printer():
    """main() and fail() print through print_failure, whose text the scheduler's child shares."""
    from rasd.core.errors import ConfigError, error_line

    assert error_line(FileNotFoundError(2, "No such file or directory", "/x/y")) == "/x/y: No such file or directory"
    assert error_line(ConfigError("a\nb")) == "a b"
    proc = _rasd("outlets", env={"RASD_SEEDS_DIR": "/nonexistent/[red]seeds"})
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith("rasd: ") and "[red]seeds" in proc.stderr


def test_status_json_is_json_on_a_crawl_only_directory(tmp_path):
    import json

    proc = _rasd("status", "--data-dir", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"scheduler": {"running": False, "since": None, "pid": None,
                                                     "why": "no scheduler has run here"}, "outlets": {}}


@pytest.mark.parametrize("args, says", [
    (["--interval-seconds", "1e12"], "less than or equal to 2592000"),
    (["--interval-seconds", "inf"], "less than or equal to 2592000"),
    (["--misfire-grace-seconds", "-1"], "greater than or equal to 1"),
    (["--log-level", "LOUD"], "'LOUD' is not a log level"),
    (["--log-format", "xml"], "'xml' is not a log format"),
    (["--max-interval-seconds", "5", "--interval-seconds", "30"], "--max-interval-seconds 5 is below --interval-seconds 30"),
])
def test_schedule_options_are_validated_where_they_enter(tmp_path, args, says):
    proc = _rasd("schedule", "--data-dir", str(tmp_path), *args, env={"COLUMNS": "300"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert says in " ".join(proc.stderr.split())
    assert not (tmp_path / "jobs.sqlite").exists()


def test_crawl_log_level_is_validated(tmp_path):
    proc = _rasd("crawl", "--data-dir", str(tmp_path), "--log-level", "LOUD", env={"COLUMNS": "300"})
    assert proc.returncode == 2 and "'LOUD' is not a log level" in proc.stderr and "Traceback" not in proc.stderr


def _unimportable(tmp_path, module: str) -> dict:
    """An environment in which importing ``module`` raises ImportError (a shadowing package)."""
    shadow = tmp_path / "shadow" / module
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("no module named langdetect (test)")\n')
    return {"PYTHONPATH": str(tmp_path / "shadow"), "RASD_INDEX_ENABLED": "false"}


def test_a_crawl_whose_stage_cannot_be_imported_says_so_and_fails(tmp_path):
    """A stage that cannot be imported (here langdetect, behind the language stage) stops the
    crawl before any page is fetched: one line naming the error and the log, exit 2 — not a
    Twisted traceback and exit 0 with nothing archived, as before."""
    from rasd.replay.recording import make_recording

    make_recording(tmp_path / "rec", outlets=1, pages_per_outlet=2, syndicated_stories=0, seed=3)
    data = tmp_path / "data"
    proc = _rasd("crawl", "--replay", str(tmp_path / "rec"), "--data-dir", str(data),
                 env=_unimportable(tmp_path, "langdetect"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"rasd: the crawl could not run: ImportError: no module named langdetect (test) "
        f"(traceback in {data / 'logs' / 'crawl.log'})"]
    assert "Traceback" in (data / "logs" / "crawl.log").read_text(encoding="utf-8")
    assert not any((data / "archive").glob("*.jsonl")) if (data / "archive").exists() else True


def test_a_scheduled_run_whose_stage_cannot_be_imported_fails_in_one_line(tmp_path):
    """The scheduler's child run (``python -m rasd.scheduler.child``) of the same broken
    install: exit 2 and one line, which the scheduler records as the run's error."""
    import json

    from rasd.core.seeds import Outlet

    # a loopback outlet nothing listens on: even a regression could not reach any other host
    outlet = Outlet.model_validate({"slug": "nowhere", "name": "لا مكان", "country": "EG", "homepage": "http://127.0.0.1:1/",
                                    "domains": ["127.0.0.1"], "feeds": ["http://127.0.0.1:1/rss.xml"]})
    outlets = tmp_path / "outlets.json"
    outlets.write_text(json.dumps({outlet.slug: outlet.model_dump(mode="json")}), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "rasd.scheduler.child", outlet.slug, "--data-dir",
                           str(tmp_path / "data"), "--outlets-file", str(outlets)],
                          capture_output=True, text=True, timeout=180,
                          env={**os.environ, **_unimportable(tmp_path, "langdetect")})
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith("rasd: the crawl could not run: ImportError: no module named langdetect")


@pytest.mark.parametrize("damage, named", [
    ("seen.sqlite", "seen.sqlite: cannot open seen store: file is not a database"),
    ("stories.sqlite", "stories.sqlite: cannot open story store: file is not a database"),
    ("archive", "archive: Not a directory"),
])
def test_a_damaged_data_directory_stops_the_crawl_in_one_line(tmp_path, damage, named):
    """A store that cannot be opened (a corrupt SQLite file; ``archive`` that is a file) used to
    end as Twisted's traceback, an empty table and exit 0 — and under ``rasd schedule`` as runs
    "ok" with 0 archived, for ever.  Now: exit 2, one line naming the file (not Scrapy's
    secondary "Engine slot not assigned")."""
    from rasd.replay.recording import make_recording

    make_recording(tmp_path / "rec", outlets=1, pages_per_outlet=2, syndicated_stories=0, seed=4)
    data = tmp_path / "data"
    data.mkdir()
    (data / damage).write_text("garbage\n")
    proc = _rasd("crawl", "--replay", str(tmp_path / "rec"), "--data-dir", str(data),
                 env={"RASD_INDEX_ENABLED": "false"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"rasd: the crawl could not run: {data / named} (traceback in {data / 'logs' / 'crawl.log'})"]


def test_scheduled_runs_on_a_damaged_store_are_failed_runs_and_the_outlet_is_failing(tmp_path):
    """The same damage under ``rasd schedule``: every run fails with that line, and after two
    the outlet's health is ``failing`` with the reason in ``rasd status --json``."""
    import json
    import signal
    import time

    from rasd.replay.recording import make_recording

    make_recording(tmp_path / "rec", outlets=1, pages_per_outlet=2, syndicated_stories=0, seed=5)
    data = tmp_path / "data"
    data.mkdir()
    (data / "seen.sqlite").write_text("garbage\n")
    env = {**os.environ, "RASD_INDEX_ENABLED": "false"}
    sched = subprocess.Popen([sys.executable, "-m", "rasd.cli.main", "schedule", "--replay", str(tmp_path / "rec"),
                              "--data-dir", str(data), "--interval-seconds", "2", "--no-adapt"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline, outlet = time.monotonic() + 60, {}
        while time.monotonic() < deadline:
            time.sleep(1)
            status = _rasd("status", "--data-dir", str(data), "--json", env={"RASD_INDEX_ENABLED": "false"})
            outlet = next(iter(json.loads(status.stdout)["outlets"].values()), {})
            if outlet.get("state") == "failing":
                break
    finally:
        sched.send_signal(signal.SIGTERM)
        sched.wait(timeout=30)
    assert outlet.get("state") == "failing", outlet
    assert "consecutive failed runs" in outlet["reason"]
    assert "seen.sqlite: cannot open seen store: file is not a database" in outlet["reason"]


def test_status_json_is_json_when_status_fails(tmp_path):
    """``rasd status --json`` on a damaged run history or a data directory that is a file:
    ``{"error": …}`` on stdout for the script, the same line on stderr, exit 2."""
    import json

    (tmp_path / "runs.sqlite").write_text("garbage\n")
    proc = _rasd("status", "--data-dir", str(tmp_path), "--json")
    assert proc.returncode == 2
    assert json.loads(proc.stdout) == {
        "error": f"{tmp_path / 'runs.sqlite'}: cannot open the run history: file is not a database"}
    assert proc.stderr.strip() == f"rasd: {tmp_path / 'runs.sqlite'}: cannot open the run history: file is not a database"
    a_file = tmp_path / "data-file"
    a_file.write_text("x")
    proc = _rasd("status", "--data-dir", str(a_file), "--json")
    assert proc.returncode == 2 and json.loads(proc.stdout) == {"error": f"{a_file}: not a directory"}


def test_the_crawl_summary_says_when_alerts_could_not_be_matched(tmp_path):
    """With alerts on and the engine unreachable, the summary has an alerts line saying the
    archived articles wait to be matched (before: only the index line; the alert side was in
    the log's stats alone)."""
    from rasd.replay.recording import make_recording

    make_recording(tmp_path / "rec", outlets=1, pages_per_outlet=2, syndicated_stories=0, seed=6)
    proc = _rasd("crawl", "--replay", str(tmp_path / "rec"), "--data-dir", str(tmp_path / "data"),
                 env={"RASD_ALERTS_ENABLED": "true", "RASD_INDEX_ENABLED": "true",
                      "RASD_ENGINE__URL": "http://127.0.0.1:1"})
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("alerts: "))
    assert line == ("alerts: 0 articles checked, 0 matched, 0 notifications sent, 0 failed, 2 archive lines "
                    "waiting (engine unreachable: matched when it is back, by the next crawl or `rasd schedule`)")


def test_a_crawl_says_which_outlets_could_not_be_read_at_all(tmp_path):
    """One outlet readable, one whose only feed answers 404: the crawl goes on (exit 0) and a
    line on stderr names the unreadable one (before: only a count in the table's feed-error
    column)."""
    import json

    from tests.loopback import Answer, LoopbackServer, crawl_env, outlet, real_pages, rss, write_seeds

    with LoopbackServer() as server:
        server.site.put("/good/rss.xml", rss([server.base_url + "/good/a1"]))
        server.site.put("/good/a1", Answer(200, real_pages()[0]))
        server.site.put("/gone/rss.xml", Answer(404, b"not here"))
        seeds = write_seeds(tmp_path / "seeds", {
            "good": outlet("good", server.base_url, ["/good/rss.xml"]),
            "gone": outlet("gone", server.base_url, ["/gone/rss.xml"])})
        proc = subprocess.run([sys.executable, "-m", "rasd.cli.main", "crawl", "--data-dir", str(tmp_path / "data"),
                               "--json"], capture_output=True, text=True, timeout=180,
                              env=crawl_env(RASD_SEEDS_DIR=str(seeds), RASD_INDEX_ENABLED="false"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["good"]["outcomes"] == {"archived": 1}
    assert "rasd: 1 of 2 outlets could not be read at all (no feed or sitemap answered): gone (see the log)" \
        in proc.stderr.splitlines()


def test_status_says_what_waits_for_an_unreachable_engine(tmp_path):
    """Scheduled runs with indexing and alerts on while the engine is unreachable archive every
    page; ``rasd status`` says how many archive lines wait for the index and for the alert
    matcher (before: every outlet ``ok`` and nothing about either)."""
    import json
    import signal
    import time

    from rasd.replay.recording import make_recording

    make_recording(tmp_path / "rec", outlets=1, pages_per_outlet=3, syndicated_stories=0, seed=8)
    data = tmp_path / "data"
    env = {"RASD_INDEX_ENABLED": "true", "RASD_ALERTS_ENABLED": "true", "RASD_ENGINE__URL": "http://127.0.0.1:1"}
    sched = subprocess.Popen([sys.executable, "-m", "rasd.cli.main", "schedule", "--replay", str(tmp_path / "rec"),
                              "--data-dir", str(data), "--interval-seconds", "2", "--no-adapt"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env})
    try:
        deadline, status = time.monotonic() + 60, {}
        while time.monotonic() < deadline:
            time.sleep(1)
            proc = _rasd("status", "--data-dir", str(data), "--json", env=env)
            status = json.loads(proc.stdout) if proc.returncode == 0 else {}
            outlet = next(iter(status.get("outlets", {}).values()), {})
            if outlet.get("archived_24h") == 3 and (status["followers"]["alerts"] or {}).get("lines") == 3:
                break
    finally:
        sched.send_signal(signal.SIGTERM)
        sched.wait(timeout=30)
    assert status["followers"] == {"index": {"rasd-articles": 3}, "alerts": {"lines": 3, "pending": 0}}, status
    text = _rasd("status", "--data-dir", str(data), env=env).stdout
    assert "index rasd-articles: 3 archive lines not indexed yet" in " ".join(text.split())
    assert "alerts: 3 archive lines not matched against the alerts yet" in " ".join(text.split())
