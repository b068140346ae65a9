"""docker-compose.yml's fleet profile and the Dockerfile it builds, checked without Docker (no
Docker daemon runs here): every variable is a Rasd setting, every command is one the CLI
accepts, every path the Dockerfile copies exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from rasd.core.settings import setting_variables

ROOT = Path(__file__).resolve().parents[2]


def test_fleet_profile_runs_redis_one_scheduler_and_scalable_workers():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    fleet = {name: s for name, s in compose["services"].items() if "scale" in s.get("profiles", ())}
    assert sorted(fleet) == ["redis", "scheduler", "worker"]
    assert fleet["scheduler"]["command"][:2] == ["schedule", "--queue"]
    assert fleet["worker"]["command"] == ["worker"]
    assert "container_name" not in fleet["worker"]  # --scale worker=N needs unnamed containers
    known = setting_variables()
    for name in ("scheduler", "worker"):
        env = fleet[name]["environment"]
        assert set(env) <= known, set(env) - known
        assert env["RASD_FLEET__REDIS_URL"] == "redis://redis:6379/0"
        assert fleet[name]["volumes"] == ["rasddata:/data"] and env["RASD_DATA_DIR"] == "/data"
    for name in ("scheduler", "worker"):
        args = fleet[name]["command"] + ["--help"]
        proc = subprocess.run([sys.executable, "-m", "rasd.cli.main", *args], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr


def test_dockerfile_copies_what_the_package_is_built_from():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = [p for line in re.findall(r"^COPY (.+)$", dockerfile, re.M) for p in line.split()[:-1]]
    assert all((ROOT / p).exists() for p in copied), copied
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    folders = set(re.findall(r'^"rasd\.\w+" = "(\w+)"', pyproject, re.M)) | {"rasd"}
    assert folders <= set(copied), folders - set(copied)
    assert 'ARG EXTRAS=opensearch,scale' in dockerfile
