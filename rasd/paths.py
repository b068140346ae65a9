"""Where Rasd's data files live.

``config/`` and ``seeds/`` sit at the root of the checkout (Rasd is installed editable, see
README).  ``RASD_HOME`` overrides that root, e.g. for an installed copy with its own config.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(os.environ.get("RASD_HOME", Path(__file__).resolve().parent.parent))
CONFIG_DIR = PROJECT_ROOT / "config"
SEEDS_DIR = PROJECT_ROOT / "seeds"
