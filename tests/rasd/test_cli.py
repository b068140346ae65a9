"""The CLI's contract with users: one-line errors, exit codes (real child processes)."""

import os
import subprocess
import sys

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
