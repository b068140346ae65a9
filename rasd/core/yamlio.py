"""Reading Rasd's YAML files (settings, seeds, rules, alerts, recordings).

:func:`safe_load` is PyYAML's ``safe_load`` with libyaml's C parser (``CSafeLoader``) when
PyYAML was built with it, as its wheels are, else the pure-Python ``SafeLoader``: the same
documents, the same Python types (the constructor is PyYAML's ``SafeConstructor`` either way),
about ten times faster — a crawl reads about 25 of these files at start, which the pure-Python
parser took 0.15–0.2 CPU-seconds to do.  A document the C parser refuses is parsed again by the
pure-Python one, whose error shows the offending line with a caret under the column (libyaml's
names only line and column).
"""

from __future__ import annotations

from typing import Any

import yaml

#: The loader class :func:`safe_load` uses.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str | bytes) -> Any:
    """The Python value of the one YAML document in ``text`` (``None`` for an empty one).

    Raises:
        yaml.YAMLError: ``text`` is not YAML (the message names line and column).
    """
    try:
        return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        if SafeLoader is yaml.SafeLoader:
            raise
    return yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 - raises the more telling error
