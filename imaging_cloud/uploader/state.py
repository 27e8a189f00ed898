"""The resume state: which files this machine already stored on which service, without any PHI.

A file is identified by ``HMAC(key, service URL ‖ absolute path ‖ size ‖ mtime)``. Folder and file names at a
hospital often carry patient names or ids, so they never appear in the state file; the key lives in a separate
0600 file beside it. The state is an append-only JSON-lines log (one line per outcome, the last line for a file
wins), flushed after every batch, so an interrupted upload loses at most the batch in flight.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import TextIO

from imaging_cloud.uploader.discovery import SourceFile

STORED = "stored"
FAILED = "failed"


def default_state_path() -> Path:
    """``$XDG_STATE_HOME/imaging-cloud/upload-state.jsonl`` (``~/.local/state`` when unset)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "imaging-cloud" / "upload-state.jsonl"


def _private_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        path.touch(mode=0o600)
    path.chmod(0o600)


def _load_or_create_key(path: Path) -> bytes:
    if path.exists():
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
        if len(key) < 16:
            raise ValueError("the resume-state key file is corrupt")
        return key
    _private_file(path)
    key = secrets.token_bytes(32)
    path.write_text(key.hex() + "\n", encoding="ascii")
    return key


class ResumeState:
    """Outcomes by file fingerprint; ``record`` appends and flushes, ``is_stored`` answers from memory."""

    def __init__(self, path: Path, key: bytes, outcomes: dict[str, str], log: TextIO) -> None:
        self.path = path
        self._key = key
        self._outcomes = outcomes
        self._log = log

    @classmethod
    def open(cls, path: Path) -> ResumeState:
        key = _load_or_create_key(path.with_suffix(".key"))
        _private_file(path)
        outcomes: dict[str, str] = {}
        with path.open(encoding="utf-8") as existing:
            for line in existing:
                try:
                    entry = json.loads(line)
                    outcomes[str(entry["file"])] = str(entry["outcome"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a crash mid-write: that file is simply sent again
        return cls(path, key, outcomes, path.open("a", encoding="utf-8"))

    def fingerprint(self, scope: str, source: SourceFile) -> str:
        """The file's PHI-free identity within ``scope`` (normally the service URL)."""
        message = "\0".join((scope, str(source.path.resolve()), str(source.size), str(source.mtime_ns)))
        return hmac.new(self._key, message.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()

    def is_stored(self, fingerprint: str) -> bool:
        return self._outcomes.get(fingerprint) == STORED

    def record(self, entries: list[tuple[str, str, str | None]]) -> None:
        """Append ``(fingerprint, outcome, reason slug or None)`` entries and flush them to disk."""
        for fingerprint, outcome, reason in entries:
            self._outcomes[fingerprint] = outcome
            line: dict[str, str] = {"file": fingerprint, "outcome": outcome}
            if reason is not None:
                line["reason"] = reason
            self._log.write(json.dumps(line) + "\n")
        self._log.flush()
        os.fsync(self._log.fileno())

    def close(self) -> None:
        self._log.close()
