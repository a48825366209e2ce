"""File-name patterns that mark a file as likely to hold secrets (shared with the snapshot)."""

from __future__ import annotations

from maggot.secrets import SECRET_FILE_PATTERNS, TEMPLATE_NAMES, looks_secret

__all__ = ["SECRET_FILE_PATTERNS", "TEMPLATE_NAMES", "looks_secret"]
