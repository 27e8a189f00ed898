"""Errors raised for one instance: a stable ``code`` (for the caller's response) and a ``detail`` without PHI.

::

    DeidentificationError          base: code, detail
    ├── RejectedInstance           the instance is valid but cannot be de-identified safely (refused)
    └── MalformedInput             the instance is not valid enough to be processed
"""

from __future__ import annotations


class DeidentificationError(Exception):
    """Base error; ``code`` is a short slug such as ``burned-in-annotation``; ``detail`` never holds values."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class RejectedInstance(DeidentificationError):
    """The object cannot be de-identified with certainty (e.g. burned-in annotation, unsupported SOP class)."""


class MalformedInput(DeidentificationError):
    """The object lacks required attributes or holds values that cannot be decoded."""
