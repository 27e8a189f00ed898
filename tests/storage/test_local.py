"""What only the filesystem backend must prove: exact key order, invisible in-progress puts, tidy directories."""

from __future__ import annotations

import io
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from imaging_cloud.storage.local import TEMP_PREFIX, LocalObjectStore
from imaging_cloud.storage.protocol import StorageUnavailable
from tests.storage.sources import MIB, PatternStream, pattern_digest, stored_digest


def test_root_is_created(tmp_path: Path) -> None:
    LocalObjectStore(tmp_path / "deep" / "objects")

    assert (tmp_path / "deep" / "objects").is_dir()


def test_iter_keeps_key_order_where_a_segment_is_extended_by_a_sibling(local_store: LocalObjectStore) -> None:
    """'s/1-x' and 's/1.5/q' sort before 's/1/…' ('-' and '.' are below '/'), though directory 's/1' lists first."""
    keys = ["s/1/a", "s/1-x", "s/1.5/q", "s/10/a", "s/1/b/c"]
    for key in keys:
        local_store.put(key, io.BytesIO(b"x"))

    assert [item.key for item in local_store.iter()] == sorted(keys)
    assert [item.key for item in local_store.iter("s/1")] == sorted(keys)
    assert [item.key for item in local_store.iter("s/1.")] == ["s/1.5/q"]


def test_put_in_progress_is_invisible_and_keeps_the_old_object(local_store: LocalObjectStore) -> None:
    local_store.put("studies/x.dcm", io.BytesIO(b"old"))
    source = PatternStream(3 * MIB, pause_at=2 * MIB)

    with ThreadPoolExecutor(max_workers=1) as pool:
        upload = pool.submit(local_store.put, "studies/x.dcm", source.as_binary())
        try:
            assert source.paused.wait(timeout=10)
            temp_files = list((local_store.root / "studies").glob(TEMP_PREFIX + "*"))

            assert len(temp_files) == 1 and temp_files[0].stat().st_size > 0
            assert [item.key for item in local_store.iter()] == ["studies/x.dcm"]
            assert local_store.size("studies/x.dcm") == 3
            with local_store.open("studies/x.dcm") as stream:
                assert stream.read() == b"old"
        finally:
            source.resume.set()
        assert upload.result() == 3 * MIB

    assert stored_digest(local_store, "studies/x.dcm") == pattern_digest(3 * MIB)
    assert list((local_store.root / "studies").glob(TEMP_PREFIX + "*")) == []


def test_delete_prunes_emptied_directories_but_keeps_the_root(local_store: LocalObjectStore) -> None:
    local_store.put("studies/1/series/2/a.dcm", io.BytesIO(b"a"))
    local_store.put("studies/1/other.dcm", io.BytesIO(b"b"))

    local_store.delete("studies/1/series/2/a.dcm")

    assert not (local_store.root / "studies" / "1" / "series").exists()
    assert (local_store.root / "studies" / "1" / "other.dcm").is_file()
    local_store.delete("studies/1/other.dcm")
    assert list(local_store.root.iterdir()) == []
    assert local_store.root.is_dir()


def test_puts_and_deletes_racing_in_one_directory_all_succeed(local_store: LocalObjectStore) -> None:
    """A delete pruning a directory while a put creates its temp file there must not fail the put.

    Switching threads every microsecond makes that window open dozens of times in a few hundred rounds.
    """
    errors: list[BaseException] = []

    def churn(worker: int) -> None:
        try:
            for round_number in range(200):
                key = f"race/dir/{worker}-{round_number}"
                local_store.put(key, io.BytesIO(b"x"))
                local_store.delete(key)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(worker,)) for worker in range(2)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)

    assert errors == []
    assert list(local_store.iter()) == []


def test_filesystem_failure_becomes_storage_unavailable(local_store: LocalObjectStore) -> None:
    """A key below an existing object cannot become a directory: the disk refuses, the caller gets a 503 error."""
    local_store.put("taken", io.BytesIO(b"x"))

    with pytest.raises(StorageUnavailable):
        local_store.put("taken/below", io.BytesIO(b"y"))

    assert local_store.exists("taken")
    assert not local_store.exists("taken/below")
