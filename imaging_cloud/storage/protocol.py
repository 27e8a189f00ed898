"""The object-store protocol every backend implements; keys come from de-identified UIDs only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol


class ObjectNotFound(KeyError):
    """The key does not exist in the store."""


class StorageUnavailable(RuntimeError):
    """The backend failed (network, disk, permissions); the caller answers 503."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int


class ObjectStore(Protocol):
    """Streaming put/open/delete/exists/iter; implementations must be safe to share between threads."""

    def put(self, key: str, source: BinaryIO, size: int | None = None, content_type: str = "application/dicom") -> int:
        """Stream ``source`` (from its current position to EOF) into ``key`` atomically; return bytes written."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A readable stream of the object (caller closes it); raises ObjectNotFound."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; deleting a missing key is not an error."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """Size in bytes; raises ObjectNotFound."""
        ...

    def iter(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every object under ``prefix``, in key order."""
        ...


def instance_key(study_uid: str, series_uid: str, sop_uid: str) -> str:
    """Object key of a de-identified instance (built from de-identified UIDs only)."""
    return f"studies/{study_uid}/series/{series_uid}/instances/{sop_uid}.dcm"


def report_key(study_uid: str, report_uid: str, extension: str) -> str:
    return f"studies/{study_uid}/reports/{report_uid}.{extension}"
