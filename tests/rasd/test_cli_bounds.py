"""Numbers and addresses at the CLI's edge: refused where they enter, in a usage error or one
line — never an OverflowError traceback or a server that announces itself and then dies
(found by a fresh-user trial)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest


def _rasd(*args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "rasd.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("args", [
    ["alerts", "outbox", "drop", "99999999999999999999999"],
    ["alerts", "outbox", "retry", "99999999999999999999999"],
    ["alerts", "outbox", "drop", "0"],
    ["alerts", "outbox", "--limit", "99999999999999999999999"],
    ["web", "--port", "70000"],
    ["web", "--port", "-5"],
    ["search", "x", "--limit", "0"],
    ["search", "x", "--offset", "99999999999"],
])
def test_out_of_range_numbers_are_usage_errors(tmp_path, args):
    proc = _rasd(*args, env={"RASD_DATA_DIR": str(tmp_path)})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "OverflowError" not in proc.stderr
    assert "Invalid value" in proc.stderr
    assert "rasd web on" not in proc.stdout
    lines = proc.stderr.strip().splitlines()  # one line, not Click's usage block in a box
    command = "rasd " + " ".join(a for a in args if a.isalpha() and a != "x")  # the (sub)command's words
    assert len(lines) == 1 and lines[0].startswith(f"{command}: Invalid value for "), lines
    assert lines[0].endswith(f"({command} --help lists the options)"), lines


@pytest.mark.parametrize("args, line", [
    (["search"], "rasd search: Missing argument 'query'. (rasd search --help lists the options)"),
    (["search", "x", "--nosuch"], "rasd search: No such option: --nosuch (rasd search --help lists the options)"),
    (["nosuch"], "rasd: No such command 'nosuch'. (rasd --help lists the options)"),
    (["alerts", "nosuch"], "rasd alerts: No such command 'nosuch'. (rasd alerts --help lists the options)"),
])
def test_usage_errors_are_one_line(tmp_path, args, line):
    proc = _rasd(*args, env={"RASD_DATA_DIR": str(tmp_path)})
    assert (proc.returncode, proc.stderr.strip(), proc.stdout) == (2, line, "")


def test_help_and_no_arguments_still_print_the_help(tmp_path):
    assert _rasd("--help").returncode == 0 and "crawl" in _rasd("--help").stdout
    bare = _rasd("alerts")  # a group without its command: its help, as before
    assert bare.returncode == 2 and "outbox" in bare.stdout + bare.stderr


def test_web_on_a_port_in_use_is_one_line_and_announces_nothing(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _rasd("web", "--port", str(port), env={"RASD_DATA_DIR": str(tmp_path)})
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"rasd: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert proc.stdout == ""


def test_a_health_alert_apprise_cannot_notify_is_refused(tmp_path):
    env = {"RASD_DATA_DIR": str(tmp_path)}
    proc = _rasd("alerts", "add-health", "h1", "--apprise", "notascheme://x/token", env=env)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "rasd: alert h1: Apprise cannot notify notascheme://x/… (unknown service or a URL missing "
        "its parts; see https://github.com/caronc/apprise/wiki)"]
    ok = _rasd("alerts", "add-health", "h2", "--apprise", "json://127.0.0.1:1/hook", env=env)
    assert ok.returncode == 0 and "health alert h2 added" in ok.stdout
    listed = _rasd("alerts", "list-health", env=env)
    assert "h2" in listed.stdout and "h1" not in listed.stdout


def test_web_takes_a_data_directory_and_refuses_a_missing_one(tmp_path):
    proc = _rasd("web", "--data-dir", str(tmp_path / "missing"))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"rasd: {tmp_path / 'missing'}: no such data directory"]
    assert proc.stdout == ""


def test_index_status_of_a_missing_data_dir_is_refused_and_not_created(tmp_path):
    """A typo used to be created (followers.sqlite, locks/) and reported "0 lines not indexed"."""
    typo = tmp_path / "typo"
    proc = _rasd("index", "status", "--data-dir", str(typo))
    assert (proc.returncode, proc.stderr.strip()) == (2, f"rasd: {typo}: no such data directory")
    assert not typo.exists()


def test_status_with_a_corrupt_job_store_is_one_line(tmp_path):
    (tmp_path / "jobs.sqlite").write_text("garbage\n")
    want = f"job store sqlite:///{tmp_path}/jobs.sqlite: DatabaseError: file is not a database"
    proc = _rasd("status", "--data-dir", str(tmp_path))
    assert (proc.returncode, proc.stderr.strip()) == (2, f"rasd: {want}"), proc.stderr
    proc = _rasd("status", "--data-dir", str(tmp_path), "--json")
    assert proc.returncode == 2 and json.loads(proc.stdout) == {"error": want}
