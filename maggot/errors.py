"""The exception types maggot raises for expected failures."""

from __future__ import annotations


class MaggotError(ValueError):
    """An expected failure with a one-line message for the user.

    It derives from ValueError because maggot 0.2 raised ValueError for bad
    arguments, and code written against it catches that.
    """


class ConfigError(MaggotError):
    """A config that cannot be turned into a run (bad type, unstorable value)."""


class NotARunError(MaggotError):
    """A path that is not a maggot run directory."""


class CorruptRunError(MaggotError):
    """A run directory whose files cannot be read."""


class GitError(MaggotError):
    """A git command failed; the message carries git's stderr."""


class ReproduceError(MaggotError):
    """A run cannot be reproduced (no snapshot, missing commit, patch conflict ...)."""
