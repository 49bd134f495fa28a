"""User-facing errors.

A :class:`ConfigError` is bad input that the user can fix: the entry points print its message as one
line and exit non-zero, with no traceback (unless ``HYDRA_FULL_ERROR=1``).
"""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad input: the message says what is wrong, which key, and how to fix it."""
