"""Finding what to upload: one file, a folder walked recursively, or the files a DICOMDIR references."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

#: Part 10 files start with a 128-byte preamble and the magic ``DICM``.
_PREAMBLE = 128
_MAGIC = b"DICM"
_DICOMDIR = "DICOMDIR"


@dataclass(frozen=True)
class SourceFile:
    """A DICOM file on disk as it was when found (size and mtime identify the version for resuming)."""

    path: Path
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> SourceFile:
        stat = path.stat()
        return cls(path=path, size=stat.st_size, mtime_ns=stat.st_mtime_ns)


@dataclass(frozen=True)
class Discovery:
    files: list[SourceFile]
    """Part 10 files to upload, in path order."""
    not_dicom: int = 0
    """Files skipped because they have no DICOM preamble (reports, thumbnails, viewer software on a CD)."""
    missing: list[Path] = field(default_factory=list)
    """Files a DICOMDIR references that do not exist."""


def has_dicom_preamble(path: Path) -> bool:
    """Whether ``path`` is a DICOM Part 10 file (quick check: the magic after the preamble)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_PREAMBLE + len(_MAGIC))
    except OSError:
        return False
    return head[_PREAMBLE:] == _MAGIC


def is_dicomdir(path: Path) -> bool:
    return path.name.upper() == _DICOMDIR


def dicomdir_references(dicomdir: Path) -> list[Path]:
    """Every file a DICOMDIR's directory records point to, resolved against the DICOMDIR's folder."""
    try:
        ds = pydicom.dcmread(dicomdir, stop_before_pixels=True)
    except (InvalidDicomError, OSError) as exc:
        raise ValueError("the DICOMDIR cannot be read") from exc
    root = dicomdir.parent
    found: dict[Path, None] = {}
    for record in ds.get("DirectoryRecordSequence", []):
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [str(file_id)] if isinstance(file_id, str) else [str(p) for p in file_id]
        found[root.joinpath(*parts)] = None
    return list(found)


def _walk(folder: Path) -> list[Path]:
    paths: list[Path] = []
    for directory, subdirectories, names in os.walk(folder):
        subdirectories.sort()
        paths.extend(Path(directory) / name for name in sorted(names))
    return paths


def discover(path: Path) -> Discovery:
    """The DICOM files under ``path``: a DICOMDIR is followed, a folder walked, a single file taken as is.

    While walking a folder, DICOMDIR files themselves are skipped (the files they reference are in the walk).
    """
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if path.is_file() and is_dicomdir(path):
        files: list[SourceFile] = []
        missing: list[Path] = []
        not_dicom = 0
        for referenced in dicomdir_references(path):
            if not referenced.is_file():
                missing.append(referenced)
            elif has_dicom_preamble(referenced):
                files.append(SourceFile.of(referenced))
            else:
                not_dicom += 1
        return Discovery(files=files, not_dicom=not_dicom, missing=missing)
    candidates = [path] if path.is_file() else _walk(path)
    files = []
    not_dicom = 0
    for candidate in candidates:
        if is_dicomdir(candidate) or not candidate.is_file():
            continue
        if has_dicom_preamble(candidate):
            files.append(SourceFile.of(candidate))
        else:
            not_dicom += 1
    return Discovery(files=files, not_dicom=not_dicom)
