"""The one integer check of library-level arguments (Python callers have no schema to catch a bool or a float).

Hydra users get types checked by the structured configs (:mod:`kdnas.pipelines.schemas`); these checks are
for code that calls kdnas directly.
"""

from __future__ import annotations

import numbers
from typing import Any

from kdnas.errors import ConfigError


def is_int(value: Any) -> bool:
    """True for Python/NumPy integers, False for bools (``True`` is an ``int`` to Python, not a count to a user)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name: str, value: Any, *, minimum: int) -> None:
    """Raise a one-line :class:`ConfigError` naming ``name`` unless ``value`` is an integer >= ``minimum``."""
    if not is_int(value) or value < minimum:
        raise ConfigError(f"{name}={value!r} is invalid: use an integer >= {minimum}")
