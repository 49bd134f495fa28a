"""User-facing errors.

A :class:`ConfigError` is bad input that the user can fix: the entry points print its message as one
line and exit non-zero, with no traceback (unless ``HYDRA_FULL_ERROR=1``).
"""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad input: the message says what is wrong, which key, and how to fix it."""


class StoreError(ConfigError):
    """A candidate store that cannot be used: not a database, not a store, unreachable, or gone mid-search.

    One line, like every :class:`ConfigError`: which store (its URL's password masked), what happened, what to do.
    """
