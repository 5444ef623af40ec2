"""Data errors with one-line messages that say where the harness looked and how to fix it."""

from __future__ import annotations


class DataNotFoundError(FileNotFoundError):
    """A data set directory or file is missing."""


class DataCorruptError(DataNotFoundError):
    """A data set file exists but cannot be read as the expected format (or fails its checksum)."""
