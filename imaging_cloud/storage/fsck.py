"""``fsck``: prove that the object store and the SQL index agree, and repair them where they do not.

Four kinds of disagreement are found:

- **orphan object**: an object under ``studies/`` that no Instance or Report row references (a crash between
  ``put`` and ``commit`` whose compensation also failed);
- **missing object**: a row whose object is gone;
- **size mismatch** / **hash mismatch**: the object exists but its length or SHA-256 (recomputed by streaming
  the object) differs from what the row recorded at ingest.

Memory stays bounded whatever the size of the archive: the store is walked lazily and looked up in the index a
batch of keys at a time; rows are only walked (in id batches) when the walk over the store matched fewer rows
than the index holds, so a clean archive costs one pass over the store and no per-row requests.

Repair policy (``repair=True``), chosen so that the archive ends consistent and the sender can heal it:

- an orphan object is deleted — but only after a fresh look confirms, at least ``orphan_grace_seconds`` after
  it was first seen, that still no row references it (an upload between ``put`` and ``commit`` is not an orphan);
- a row whose object is missing or corrupt is **deleted**, together with the corrupt object, and the series and
  studies left without instances (and studies without reports) are deleted too. Deleting rather than keeping a
  quarantined row is deliberate: the row then no longer claims the instance is stored, so the hospital's
  re-upload of the same instance (idempotent, same keyed UIDs, same key) is ingested afresh and restores it,
  whereas a kept row would make that re-upload a no-op. Every deleted key and row id is listed in the report,
  which is what the operator hands to the sending hospital. Corrupt bytes are not kept: they are no longer
  the verified de-identified object, so nothing vouches for what they contain.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from imaging_cloud.db.unit_of_work import UnitOfWorkFactory
from imaging_cloud.reports.models import Report
from imaging_cloud.storage.protocol import ObjectNotFound, ObjectStore, StoredObject
from imaging_cloud.studies.models import Instance, Series, Study

logger = logging.getLogger(__name__)

PREFIX = "studies/"
"""Every object the index can reference lives under this prefix."""
BATCH = 500
HASH_CHUNK = 1024 * 1024

Table = Literal["instances", "reports"]


class FsckRuntime(Protocol):
    """What fsck needs from the running service (``imaging_cloud.runtime.Runtime`` satisfies it)."""

    @property
    def units(self) -> UnitOfWorkFactory: ...

    @property
    def store(self) -> ObjectStore: ...


@dataclass(frozen=True)
class RowRef:
    """One index row that references an object."""

    table: Table
    row_id: int
    key: str


@dataclass(frozen=True)
class Mismatch:
    """A row whose object exists but differs from what the row recorded."""

    row: RowRef
    expected: str
    actual: str


@dataclass
class FsckReport:
    objects_checked: int = 0
    rows_checked: int = 0
    orphan_objects: list[str] = field(default_factory=list)
    missing_objects: list[RowRef] = field(default_factory=list)
    size_mismatches: list[Mismatch] = field(default_factory=list)
    hash_mismatches: list[Mismatch] = field(default_factory=list)
    repaired: bool = False
    deleted_objects: list[str] = field(default_factory=list)
    deleted_rows: list[RowRef] = field(default_factory=list)
    deleted_series: int = 0
    deleted_studies: int = 0

    @property
    def clean(self) -> bool:
        """True when store and index agreed completely (before any repair)."""
        return not (self.orphan_objects or self.missing_objects or self.size_mismatches or self.hash_mismatches)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for the CLI (keys and row ids hold de-identified UIDs only: no PHI)."""

        def row(ref: RowRef) -> dict[str, Any]:
            return {"table": ref.table, "id": ref.row_id, "key": ref.key}

        def mismatch(m: Mismatch) -> dict[str, Any]:
            return {**row(m.row), "expected": m.expected, "actual": m.actual}

        return {
            "clean": self.clean,
            "objects_checked": self.objects_checked,
            "rows_checked": self.rows_checked,
            "orphan_objects": list(self.orphan_objects),
            "missing_objects": [row(r) for r in self.missing_objects],
            "size_mismatches": [mismatch(m) for m in self.size_mismatches],
            "hash_mismatches": [mismatch(m) for m in self.hash_mismatches],
            "repaired": self.repaired,
            "deleted_objects": list(self.deleted_objects),
            "deleted_rows": [row(r) for r in self.deleted_rows],
            "deleted_series": self.deleted_series,
            "deleted_studies": self.deleted_studies,
        }


@dataclass(frozen=True)
class _Row:
    ref: RowRef
    size: int
    sha256: str


def run_fsck(
    runtime: FsckRuntime,
    *,
    repair: bool,
    check_hashes: bool = True,
    orphan_grace_seconds: float = 10.0,
    batch_size: int = BATCH,
) -> FsckReport:
    """Compare the store with the index; with ``repair`` apply the policy in the module docstring.

    ``check_hashes=False`` skips reading every object (sizes are still compared).
    """
    report = FsckReport()
    store, units = runtime.store, runtime.units
    first_seen: dict[str, float] = {}
    matched_rows = 0
    for chunk in _batches(store.iter(PREFIX), batch_size):
        report.objects_checked += len(chunk)
        with units.read_only() as session:
            rows = _rows_for_keys(session, [obj.key for obj in chunk])
        for obj in chunk:
            found = rows.get(obj.key, [])
            if not found:
                report.orphan_objects.append(obj.key)
                first_seen[obj.key] = time.monotonic()
                continue
            matched_rows += len(found)
            _compare(store, obj, found, report, check_hashes=check_hashes)

    with units.read_only() as session:
        total_rows = (session.scalar(select(func.count()).select_from(Instance)) or 0) + (
            session.scalar(select(func.count()).select_from(Report)) or 0
        )
    report.rows_checked = total_rows
    if matched_rows != total_rows:
        report.missing_objects = list(_missing_objects(units, store, batch_size))

    if not report.clean:
        logger.warning(
            "fsck: %d orphan objects, %d missing objects, %d size and %d hash mismatches",
            len(report.orphan_objects),
            len(report.missing_objects),
            len(report.size_mismatches),
            len(report.hash_mismatches),
        )
    if repair:
        _repair_orphans(units, store, report, first_seen, orphan_grace_seconds)
        _repair_rows(units, store, report)
        report.repaired = True
    return report


# -- detection -------------------------------------------------------------------------------------------------


def _batches(objects: Iterable[StoredObject], size: int) -> Iterator[list[StoredObject]]:
    chunk: list[StoredObject] = []
    for obj in objects:
        chunk.append(obj)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _rows_for_keys(session: Session, keys: Sequence[str]) -> dict[str, list[_Row]]:
    found: dict[str, list[_Row]] = {}
    for instance_id, key, size, sha in session.execute(
        select(Instance.id, Instance.object_key, Instance.size, Instance.sha256).where(Instance.object_key.in_(keys))
    ):
        found.setdefault(key, []).append(_Row(RowRef("instances", instance_id, key), size, sha))
    for report_id, key, size, sha in session.execute(
        select(Report.id, Report.object_key, Report.size, Report.sha256).where(Report.object_key.in_(keys))
    ):
        found.setdefault(key, []).append(_Row(RowRef("reports", report_id, key), size, sha))
    return found


def _compare(
    store: ObjectStore, obj: StoredObject, rows: list[_Row], report: FsckReport, *, check_hashes: bool
) -> None:
    wrong_size = [row for row in rows if row.size != obj.size]
    for row in wrong_size:
        report.size_mismatches.append(Mismatch(row.ref, str(row.size), str(obj.size)))
    rest = [row for row in rows if row.size == obj.size]
    if not check_hashes or not rest:
        return
    try:
        actual = _sha256_of(store, obj.key)
    except ObjectNotFound:  # deleted since it was listed: the row pass reports it as missing
        return
    for row in rest:
        if row.sha256 != actual:
            report.hash_mismatches.append(Mismatch(row.ref, row.sha256, actual))


def _sha256_of(store: ObjectStore, key: str) -> str:
    digest = hashlib.sha256()
    with store.open(key) as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _missing_objects(units: UnitOfWorkFactory, store: ObjectStore, batch_size: int) -> Iterator[RowRef]:
    """Rows whose object does not exist, walked in id order a batch at a time (keyset pagination)."""
    for table, model in (("instances", Instance), ("reports", Report)):
        last_id = 0
        while True:
            with units.read_only() as session:
                batch = session.execute(
                    select(model.id, model.object_key).where(model.id > last_id).order_by(model.id).limit(batch_size)
                ).all()
            if not batch:
                break
            last_id = batch[-1][0]
            for row_id, key in batch:
                if not store.exists(key):
                    yield RowRef(table, row_id, key)  # type: ignore[arg-type]


# -- repair ----------------------------------------------------------------------------------------------------


def _repair_orphans(
    units: UnitOfWorkFactory, store: ObjectStore, report: FsckReport, first_seen: dict[str, float], grace: float
) -> None:
    for key in report.orphan_objects:
        wait = first_seen.get(key, 0.0) + grace - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        with units.read_only() as session:
            if _key_referenced(session, key):
                continue  # its upload committed meanwhile: not an orphan after all
        store.delete(key)
        report.deleted_objects.append(key)


def _key_referenced(session: Session, key: str) -> bool:
    return bool(
        session.scalar(select(exists().where(Instance.object_key == key)))
        or session.scalar(select(exists().where(Report.object_key == key)))
    )


def _repair_rows(units: UnitOfWorkFactory, store: ObjectStore, report: FsckReport) -> None:
    broken = [
        *report.missing_objects,
        *(m.row for m in report.size_mismatches),
        *(m.row for m in report.hash_mismatches),
    ]
    corrupt_keys = {m.row.key for m in (*report.size_mismatches, *report.hash_mismatches)}
    # Every row sharing a broken key goes (a DICOM report's Report row shares its Instance's object).
    keys = sorted({ref.key for ref in broken})
    for start in range(0, len(keys), BATCH):
        chunk = keys[start : start + BATCH]
        with units() as uow:
            session = uow.session
            rows = _rows_for_keys(session, chunk)
            instance_ids = [r.ref.row_id for rs in rows.values() for r in rs if r.ref.table == "instances"]
            report_ids = [r.ref.row_id for rs in rows.values() for r in rs if r.ref.table == "reports"]
            study_ids = set(session.scalars(select(Instance.study_id).where(Instance.id.in_(instance_ids))))
            study_ids |= set(session.scalars(select(Report.study_id).where(Report.id.in_(report_ids))))
            series_ids = set(session.scalars(select(Instance.series_id).where(Instance.id.in_(instance_ids))))
            if report_ids:
                session.execute(delete(Report).where(Report.id.in_(report_ids)))
            if instance_ids:
                session.execute(delete(Instance).where(Instance.id.in_(instance_ids)))
            report.deleted_series += _delete_empty_series(session, series_ids)
            report.deleted_studies += _delete_empty_studies(session, study_ids)
            report.deleted_rows.extend(r.ref for rs in rows.values() for r in rs)
        # Corrupt objects go only once their rows are committed away: no row ever points at a deleted object.
        for key in chunk:
            if key in corrupt_keys:
                store.delete(key)
                report.deleted_objects.append(key)


def _delete_empty_series(session: Session, series_ids: set[int]) -> int:
    empty = [
        series_id
        for series_id in series_ids
        if not session.scalar(select(exists().where(Instance.series_id == series_id)))
    ]
    if not empty:
        return 0
    study_ids = set(session.scalars(select(Series.study_id).where(Series.id.in_(empty))))
    session.execute(delete(Series).where(Series.id.in_(empty)))
    for study in session.scalars(select(Study).where(Study.id.in_(study_ids))):
        remaining = session.execute(select(Series.modality, Series.body_part).where(Series.study_id == study.id)).all()
        study.modalities = "\\".join(dict.fromkeys(m for m, _ in remaining if m))
        study.body_parts = "\\".join(dict.fromkeys(b for _, b in remaining if b))
    session.flush()
    return len(empty)


def _delete_empty_studies(session: Session, study_ids: set[int]) -> int:
    empty = [
        study_id
        for study_id in study_ids
        if not session.scalar(select(exists().where(Instance.study_id == study_id)))
        and not session.scalar(select(exists().where(Report.study_id == study_id)))
    ]
    if not empty:
        return 0
    session.execute(delete(Series).where(Series.study_id.in_(empty)))
    session.execute(delete(Study).where(Study.id.in_(empty)))
    return len(empty)
