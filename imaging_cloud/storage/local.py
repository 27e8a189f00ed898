"""Object store on the local filesystem: one file per key under a root directory, written atomically.

A put streams into a hidden temp file beside its target, fsyncs it and renames it into place, so readers see the
old object or the whole new one, never a part. Temp files carry a reserved name prefix that no key segment may
use, which is how ``iter`` tells them apart from objects. No locks are needed: every step is a single atomic
filesystem operation, so the store is safe to share between threads and processes on one machine.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from imaging_cloud.storage.protocol import ObjectNotFound, StorageUnavailable, StoredObject

CHUNK_BYTES = 1024 * 1024
"""How much of the source a put holds in memory at a time."""

TEMP_PREFIX = ".partial-"
"""Names of in-progress puts start with this; key segments may not."""

_PUT_ATTEMPTS = 20
"""A concurrent delete may prune the target's empty directory between mkdir and create; retry that race."""


def check_key(key: str) -> str:
    """Return ``key`` if it is a plain relative ``a/b/c`` path; raise ValueError otherwise.

    Both backends accept exactly the same keys, so an object can move between them unchanged.
    """
    if not key:
        raise ValueError("object key is empty")
    if "\\" in key or "\x00" in key:
        raise ValueError("object key contains a backslash or NUL")
    if key.startswith("/"):
        raise ValueError("object key is absolute")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError("object key has an empty, '.' or '..' segment")
        if segment.startswith(TEMP_PREFIX):
            raise ValueError(f"object key segments may not start with {TEMP_PREFIX!r}")
    return key


def _check_prefix(prefix: str) -> str:
    """A prefix is a key with an optionally incomplete (or empty) last segment."""
    head, _, tail = prefix.rpartition("/")
    if head:
        check_key(head)
    elif prefix.startswith("/"):
        raise ValueError("object key prefix is absolute")
    if "\\" in tail or "\x00" in tail or tail in (".", ".."):
        raise ValueError("object key prefix has an invalid last segment")
    return prefix


class LocalObjectStore:
    """Keys map to files under ``root``; see the module docstring for the guarantees."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"cannot create the object store root: {exc.strerror}") from exc

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, source: BinaryIO, size: int | None = None, content_type: str = "application/dicom") -> int:
        """Stream ``source`` to EOF into ``key``; when ``size`` is given the source must hold exactly that many bytes.

        ``content_type`` is not kept: files carry no metadata and every reader knows what it stored.
        Errors raised by ``source`` itself propagate unchanged (after the temp file is removed); filesystem
        errors become StorageUnavailable.
        """
        target = self._path(key)
        handle, temp_name = self._create_temp(target.parent)
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as out:
                written = 0
                while chunk := source.read(CHUNK_BYTES):
                    _on_disk(out.write, chunk)
                    written += len(chunk)
                if size is not None and written != size:
                    raise ValueError(f"source held {written} bytes, not the declared {size}")
                _on_disk(out.flush)
                _on_disk(os.fsync, out.fileno())
            _on_disk(os.replace, temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        self._fsync_directory(target.parent)
        return written

    def _create_temp(self, directory: Path) -> tuple[int, str]:
        for attempt in range(_PUT_ATTEMPTS):
            try:
                directory.mkdir(parents=True, exist_ok=True)
                return tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
            except (FileNotFoundError, FileExistsError):
                # FileExistsError: mkdir saw the directory, then a delete pruned it before mkdir's own is_dir check.
                if attempt == _PUT_ATTEMPTS - 1:
                    raise StorageUnavailable("object directory kept disappearing during put") from None
            except OSError as exc:
                raise StorageUnavailable(f"cannot create object directory: {exc.strerror}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _fsync_directory(directory: Path) -> None:
        """Make the rename itself durable; a failure here cannot undo the visible put, so it is not raised."""
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        except OSError as exc:
            raise StorageUnavailable(f"cannot open object: {exc.strerror}") from exc

    def delete(self, key: str) -> None:
        """Remove the file, then prune directories left empty (up to, not including, the root)."""
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return
        except OSError as exc:
            raise StorageUnavailable(f"cannot delete object: {exc.strerror}") from exc
        parent = path.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            status = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        except OSError as exc:
            raise StorageUnavailable(f"cannot stat object: {exc.strerror}") from exc
        if not stat.S_ISREG(status.st_mode):
            raise ObjectNotFound(key)
        return status.st_size

    def iter(self, prefix: str = "") -> Iterator[StoredObject]:
        """Walk lazily in key order: a directory sorts as its name plus '/', exactly where its keys sort."""
        head, _, tail = _check_prefix(prefix).rpartition("/")
        start = self.root.joinpath(*head.split("/")) if head else self.root
        key_base = f"{head}/" if head else ""
        yield from self._walk(start, key_base, tail)

    def _walk(self, directory: Path, key_base: str, name_prefix: str = "") -> Iterator[StoredObject]:
        try:
            with os.scandir(directory) as scan:
                entries = [
                    entry
                    for entry in scan
                    if entry.name.startswith(name_prefix) and not entry.name.startswith(TEMP_PREFIX)
                ]
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise StorageUnavailable(f"cannot list objects: {exc.strerror}") from exc
        ordered = sorted(entries, key=lambda e: e.name + "/" if e.is_dir(follow_symlinks=False) else e.name)
        for entry in ordered:
            key = key_base + entry.name
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(Path(entry.path), key + "/")
            elif entry.is_file(follow_symlinks=False):
                try:
                    size = entry.stat().st_size
                except FileNotFoundError:
                    continue
                yield StoredObject(key=key, size=size)


def _on_disk(operation: Callable[..., object], *args: Any) -> None:
    """Run one filesystem step of a put; its OSError means the store is unavailable, not that the caller erred."""
    try:
        operation(*args)
    except OSError as exc:
        raise StorageUnavailable(f"cannot write object: {exc.strerror or exc}") from exc
