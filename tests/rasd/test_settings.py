"""Tests for rasd/core/settings.py: every setting in RasdSettings, reaching the crawl's stages only
through the Scrapy settings; RASD_* names users already use; unknown RASD_* variables warned
about once per process (real child processes for what a user sees on stderr)."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from scrapy.settings import Settings

from rasd.core.paths import CONFIG_DIR
from rasd.core.settings import (OTHER_VARIABLES, RasdSettings, load_settings, setting_variables,
                                unknown_variables, warn_unknown_variables)
from rasd.crawler.settings import scrapy_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings_file(tmp_path, monkeypatch):
    """Write a settings file and point RASD_CONFIG at it; no RASD_* setting in the environment."""
    for name in list(os.environ):
        if name.upper() in setting_variables():
            monkeypatch.delenv(name)

    def write(data: dict) -> Path:
        path = tmp_path / "settings.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        monkeypatch.setenv("RASD_CONFIG", str(path))
        return path
    return write


def test_alerts_enabled_in_a_settings_file_reaches_the_alert_stage(settings_file, tmp_path):
    from rasd.pipelines.alerts import AlertPipeline

    settings_file({"alerts_enabled": True, "data_dir": str(tmp_path / "d"),
                   "engine": {"index_prefix": "rasd-from-file"}, "alerts": {"batch_size": 7}})
    rasd = load_settings()
    assert rasd.alerts_enabled is True and rasd.alerts.batch_size == 7
    options = AlertPipeline.options_from_settings(Settings(scrapy_settings(rasd)))
    assert options["enabled"] is True and options["prefix"] == "rasd-from-file"
    assert options["batch_size"] == 7 and options["data_dir"] == str(tmp_path / "d")
    assert AlertPipeline.options_from_settings(Settings(scrapy_settings(load_settings(alerts_enabled=False)))) \
        == {"enabled": False}


def test_the_variable_names_users_already_use_are_the_new_fields(settings_file, monkeypatch):
    settings_file({})
    monkeypatch.setenv("RASD_ALERTS_ENABLED", "1")
    monkeypatch.setenv("RASD_SCHEDULER_JOBSTORE_URL", "postgresql://rasd:pw@127.0.0.1:1/rasd")
    monkeypatch.setenv("RASD_INDEX_ENABLED", "yes")
    rasd = load_settings()
    assert (rasd.alerts_enabled, rasd.index_enabled) == (True, True)
    assert rasd.jobstore_url() == "postgresql://rasd:pw@127.0.0.1:1/rasd"
    assert "pw" not in repr(rasd)  # a job store URL may hold a password: SecretStr
    out = scrapy_settings(rasd)
    assert (out["RASD_ALERTS_ENABLED"], out["RASD_INDEX_ENABLED"]) == (True, True)


def test_stage_defaults_are_the_stages_own():
    from rasd.pipelines.storyindex import StoryParams

    rasd, params = RasdSettings(), StoryParams()
    assert (rasd.stories.threshold, rasd.stories.duplicate_threshold, rasd.stories.num_perm) == \
        (params.threshold, params.duplicate_threshold, params.num_perm)
    out = scrapy_settings(rasd)
    assert (out["RASD_INDEX_BATCH"], out["RASD_ALERTS_BATCH"], out["RASD_STORIES_WINDOW_DAYS"]) == (500, 20, 7.0)


def test_a_bad_stage_setting_names_the_field(settings_file):
    from rasd.core.errors import ConfigError

    settings_file({"index": {"batch_size": 0}})
    with pytest.raises(ConfigError, match=r"index\.batch_size"):
        load_settings()
    settings_file({"alerts_enabled": True, "alert_enabled": True})
    with pytest.raises(ConfigError, match="alert_enabled"):
        load_settings()


def test_unknown_variables_name_the_closest_known_one():
    env = {"RASD_ALERT_ENABLED": "1", "RASD_ENGINE__URLL": "http://x", "RASD_INDEX_BATCH": "3",
           "rasd_data_dir": "d", "RASD_ENGINE": "{}", "RASD_SEARCH_PORT": "9201", "RASD_CONFIG": "x",
           "RASD_SKIP_SEARCH": "1", "RASD_ZZZZZZZZZZZZZZ": "1", "HOME": "/root"}
    assert unknown_variables(env) == [("RASD_ALERT_ENABLED", "RASD_ALERTS_ENABLED"),
                                      ("RASD_ENGINE__URLL", "RASD_ENGINE__URL"),
                                      ("RASD_INDEX_BATCH", "RASD_INDEX__BATCH_SIZE"),
                                      ("RASD_ZZZZZZZZZZZZZZ", None)]
    assert {"RASD_SCHEDULER_JOBSTORE_URL", "RASD_CRAWL__EXTRACT_WORKERS", "RASD_STORIES__WINDOW_DAYS"} \
        <= setting_variables()


def test_the_warning_is_logged_once_per_process_without_values(monkeypatch, caplog):
    import rasd.core.settings as module

    monkeypatch.setattr(module, "_ENV_CHECKED", False)
    with caplog.at_level("WARNING", logger="rasd.settings"):
        lines = warn_unknown_variables({"RASD_ALERT_ENABLED": "s3cret-value"})
        assert warn_unknown_variables({"RASD_OTHER_TYPO": "1"}) == []
    assert lines == [caplog.records[0].getMessage()] and len(caplog.records) == 1
    assert "RASD_ALERT_ENABLED" in lines[0] and "did you mean RASD_ALERTS_ENABLED?" in lines[0]
    assert "s3cret" not in lines[0]


def _rasd(*args: str, env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("RASD_")}
    return subprocess.run([sys.executable, "-m", "rasd.cli.main", *args], capture_output=True, text=True,
                          timeout=180, env={**clean, **env})


def test_a_mistyped_variable_is_one_warning_line_on_stderr_not_an_error():
    proc = _rasd("outlets", env={"RASD_ALERT_ENABLED": "1", "RASD_SEARCH_PORT": "9201"})
    assert proc.returncode == 0 and "16 outlets" in proc.stdout
    assert proc.stderr.splitlines() == [
        "rasd: warning: environment variable RASD_ALERT_ENABLED is not a Rasd setting and is ignored; "
        "did you mean RASD_ALERTS_ENABLED? (config/settings.yaml lists the settings)"]
    quiet = _rasd("outlets", env={"RASD_ALERTS_ENABLED": "1"})
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_status_reads_the_job_store_url_from_the_settings(tmp_path):
    """RASD_SCHEDULER_JOBSTORE_URL (now the scheduler_jobstore_url setting) still chooses the job
    store of ``rasd status``: a store outside the data directory, written by a real daemon."""
    from rasd.core.seeds import load_outlets
    from rasd.scheduler.runner import Daemon, ScheduleConfig

    data, other = tmp_path / "data", tmp_path / "elsewhere"
    data.mkdir()
    other.mkdir()
    url = f"sqlite:///{other / 'jobs.sqlite'}"
    outlets = load_outlets(RasdSettings().seeds_dir)
    daemon = Daemon(ScheduleConfig(data_dir=data, outlets={"youm7": outlets["youm7"]}, jobstore_url=url,
                                   replay_url="http://127.0.0.1:1")).start(paused=True)
    daemon.stop()
    assert not (data / "jobs.sqlite").exists()
    proc = _rasd("status", "--data-dir", str(data), "--json", env={"RASD_SCHEDULER_JOBSTORE_URL": url})
    assert proc.returncode == 0, proc.stderr
    outlets = json.loads(proc.stdout)["outlets"]
    assert list(outlets) == ["youm7"] and outlets["youm7"]["next_run"] > 0


def test_settings_yaml_shows_every_setting():
    """config/settings.yaml names every field of RasdSettings (set or commented out), section by
    section, and sets nothing that is not one."""
    text = (CONFIG_DIR / "settings.yaml").read_text(encoding="utf-8")
    shown: set[str] = set()
    section = None
    for line in text.splitlines():
        m = re.match(r"^(\s*)#?\s*([a-z_]+):(\s|$)", line)
        if not m:
            continue
        indent, key = len(m.group(1)), m.group(2)
        if indent == 0:
            section = key if key in _sections() else None
            shown.add(key)
        elif section:
            shown.add(f"{section}.{key}")
    wanted = {name for name in RasdSettings.model_fields}
    wanted |= {f"{s}.{f}" for s, model in _sections().items() for f in model.model_fields}
    assert wanted <= shown, sorted(wanted - shown)
    RasdSettings.model_validate(yaml.safe_load(text))  # what it sets is valid (extra="forbid")


def _sections() -> dict:
    return {name: f.annotation for name, f in RasdSettings.model_fields.items()
            if isinstance(f.annotation, type) and hasattr(f.annotation, "model_fields")}


# Where reading the settings file or the environment is allowed: entry points (the CLI, the
# scheduler's child, Scrapy's settings module) and what must run before any settings exist.
ALLOWED = {
    "rasd/core/settings.py": "the settings themselves",
    "rasd/core/paths.py": "RASD_HOME, before any settings",
    "rasd/core/failpoints.py": "RASD_FAILPOINT, a test tool armed per process",
    "rasd/replay/recording.py": "RASD_CORPUS_DIR of the python -m rasd.replay.recording tool",
    "rasd/alerts/channels/email.py": "the SMTP password an alert's password_env names",
    "crawler/settings.py": "Scrapy's settings module (scrapy crawl) builds them once",
    "scheduler/child.py": "entry point of one scheduled run",
}


def test_no_component_reads_the_settings_or_the_environment_itself():
    offenders = []
    for folder in ("rasd", "crawler", "pipelines", "scheduler"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("rasd/cli/") or rel in ALLOWED:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                name = (node.attr if isinstance(node, ast.Attribute) else
                        node.id if isinstance(node, ast.Name) else None)
                if name in ("load_settings", "environ", "getenv"):
                    offenders.append(f"{rel}:{node.lineno} {name}")
    assert offenders == []
    assert set(OTHER_VARIABLES) >= {"RASD_CONFIG", "RASD_HOME", "RASD_FAILPOINT", "RASD_CORPUS_DIR"}


def test_every_variable_the_code_and_scripts_read_is_known():
    """A RASD_* name read anywhere (Python, scripts/, .ci/run) is a setting or an
    OTHER_VARIABLES entry, so CI's own environment never makes rasd print a warning line."""
    import re

    root = Path(__file__).resolve().parents[2]
    read = re.compile(r"""(?:environ(?:\.get)?\s*[\[(]\s*|getenv\(\s*|\$\{?)["']?(RASD_[A-Z0-9_]+)""")
    files = [p for d in ("rasd", "crawler", "pipelines", "scheduler", "bench", "tests", "scripts")
             for p in (root / d).rglob("*") if p.is_file() and p.suffix in ("", ".py", ".sh")]
    files.append(root / ".ci" / "run")
    names = set()
    for path in files:
        try:
            names |= set(read.findall(path.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, OSError):
            continue
    assert {"RASD_TEST_ARTEFACTS", "RASD_CHROMIUM"} <= names
    unknown = {n for n, _ in unknown_variables(names) if n != "RASD_ZZZZZZZZZZZZZZ"}
    assert unknown == set()
