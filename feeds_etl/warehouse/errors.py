"""What goes wrong with the lake, in words that name what failed (never a password)."""

from __future__ import annotations

import re


class LakeError(RuntimeError):
    """The lake could not be opened or written: the message names what failed (catalog, data path, disk)."""


class WarehouseBusy(LakeError):
    """Another writer held the lock for longer than we are prepared to wait."""


_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s\"]+)", re.IGNORECASE)


def scrubbed(message: str) -> str:
    """An error message without the password DuckDB's postgres extension quotes from the connection string."""
    return _PASSWORD.sub(r"\1***", message)
