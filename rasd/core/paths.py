"""Where Rasd's data files live: ``config/`` and ``seeds/``, shipped as package data.

They are the packages ``rasd.config`` and ``rasd.seeds`` (the checkout's ``config/`` and
``seeds/`` folders, mapped by ``pyproject.toml``), found through :mod:`importlib.resources`, so
an editable checkout and an installed wheel read the same files.  ``RASD_HOME`` overrides the
root (``$RASD_HOME/config``, ``$RASD_HOME/seeds``), e.g. for an installed copy with its own
configuration; ``seeds_dir``/``config_dir`` in the settings override each one.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path


def _package_dir(name: str) -> Path:
    return Path(str(files(name)))


if os.environ.get("RASD_HOME"):
    PROJECT_ROOT = Path(os.environ["RASD_HOME"])
    CONFIG_DIR = PROJECT_ROOT / "config"
    SEEDS_DIR = PROJECT_ROOT / "seeds"
else:
    CONFIG_DIR = _package_dir("rasd.config")
    SEEDS_DIR = _package_dir("rasd.seeds")
    PROJECT_ROOT = CONFIG_DIR.parent
