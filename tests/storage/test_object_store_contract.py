"""The ObjectStore contract, proven against every backend (local files and S3 on a real SeaweedFS)."""

from __future__ import annotations

import io
import threading
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from imaging_cloud.storage.local import CHUNK_BYTES, LocalObjectStore
from imaging_cloud.storage.protocol import ObjectNotFound, ObjectStore, StoredObject, instance_key
from imaging_cloud.storage.s3 import S3ObjectStore
from tests.storage.sources import MIB, PatternStream, SourceBroke, pattern_digest, stored_digest, stream_digest

LARGE = 40 * MIB


def bounded_put_memory(store: ObjectStore) -> int:
    """What a put may hold at once (the test source's own ~3 MiB included).

    Locally a few chunks; on S3 the parts in flight plus the SDK's copies of the part being read.
    """
    if isinstance(store, S3ObjectStore):
        return (store.parallel_uploads + 4) * store.part_size
    return 8 * CHUNK_BYTES


def read_all(store: ObjectStore, key: str) -> bytes:
    with store.open(key) as stream:
        return stream.read()


def test_put_then_open_returns_the_same_bytes(store: ObjectStore) -> None:
    key = instance_key("2.25.1", "2.25.2", "2.25.3")
    payload = b"DICM" + bytes(range(256)) * 10

    assert store.put(key, io.BytesIO(payload), size=len(payload)) == len(payload)

    assert read_all(store, key) == payload


def test_put_of_unknown_size_returns_the_bytes_written(store: ObjectStore) -> None:
    assert store.put("small/unknown", PatternStream(3000, piece=7).as_binary()) == 3000

    assert read_all(store, "small/unknown") == PatternStream(3000).read(3000)


def test_put_streams_from_the_current_position(store: ObjectStore) -> None:
    source = io.BytesIO(b"header-already-consumed|body")
    source.seek(len(b"header-already-consumed|"))

    assert store.put("positioned", source) == 4

    assert read_all(store, "positioned") == b"body"


def test_empty_object_roundtrips(store: ObjectStore) -> None:
    assert store.put("empty", io.BytesIO(b""), size=0) == 0

    assert store.size("empty") == 0
    assert read_all(store, "empty") == b""


def test_put_replaces_an_existing_object(store: ObjectStore) -> None:
    store.put("replaced", io.BytesIO(b"first version"))
    store.put("replaced", io.BytesIO(b"second"))

    assert read_all(store, "replaced") == b"second"
    assert store.size("replaced") == 6


def test_large_object_of_unknown_size_roundtrips_without_being_held_in_memory(store: ObjectStore) -> None:
    """40 MiB from a source that hands out 64 KiB at a time (multipart on S3): memory stays far below 40 MiB."""
    tracemalloc.start()
    try:
        written = store.put("large/unknown-size.dcm", PatternStream(LARGE).as_binary())
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with store.open("large/unknown-size.dcm") as stream:
            digest, length = stream_digest(stream)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert written == LARGE
    assert length == LARGE
    assert store.size("large/unknown-size.dcm") == LARGE
    assert digest == pattern_digest(LARGE)
    assert put_peak < bounded_put_memory(store) < LARGE, f"put held {put_peak / MIB:.1f} MiB"
    assert read_peak < 8 * MIB, f"read held {read_peak / MIB:.1f} MiB"


def test_open_stream_reads_in_pieces_and_closes(store: ObjectStore) -> None:
    store.put("pieces", io.BytesIO(b"0123456789"))

    stream = store.open("pieces")
    with stream:
        assert stream.read(3) == b"012"
        assert stream.read(4) == b"3456"
        assert stream.read() == b"789"
        assert stream.read(1) == b""

    assert stream.closed


def test_closing_a_partly_read_stream_leaves_the_store_usable(store: ObjectStore) -> None:
    store.put("partly", PatternStream(2 * MIB).as_binary())

    for _ in range(15):
        with store.open("partly") as stream:
            assert len(stream.read(1000)) == 1000

    assert stored_digest(store, "partly") == pattern_digest(2 * MIB)


def test_delete_removes_the_object_and_is_idempotent(store: ObjectStore) -> None:
    store.put("gone/soon", io.BytesIO(b"x"))

    store.delete("gone/soon")
    store.delete("gone/soon")
    store.delete("never/existed")

    assert not store.exists("gone/soon")
    with pytest.raises(ObjectNotFound):
        store.open("gone/soon")


def test_exists_and_size_follow_put_and_delete(store: ObjectStore) -> None:
    assert not store.exists("a/b.dcm")

    store.put("a/b.dcm", io.BytesIO(b"12345"), size=5)

    assert store.exists("a/b.dcm")
    assert store.size("a/b.dcm") == 5
    assert not store.exists("a"), "a key's parent path is not an object"
    store.delete("a/b.dcm")
    assert not store.exists("a/b.dcm")


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda store: store.open("missing/key"), id="open"),
        pytest.param(lambda store: store.size("missing/key"), id="size"),
    ],
)
def test_missing_key_raises_object_not_found(store: ObjectStore, operation: Callable[[ObjectStore], object]) -> None:
    store.put("missing/other", io.BytesIO(b"x"))

    with pytest.raises(ObjectNotFound) as raised:
        operation(store)

    assert isinstance(raised.value, KeyError)


def test_iter_lists_objects_under_a_prefix_in_key_order(store: ObjectStore) -> None:
    keys = ["s/1/b", "s/1/a", "s/10/a", "s/2", "t/other", "s/1/c/d", "s/1/b.dcm", "s/3.dcm"]
    for key in keys:
        store.put(key, io.BytesIO(key.encode()))

    everything = list(store.iter())
    under_s1 = [item.key for item in store.iter("s/1")]
    under_s1_dir = [item.key for item in store.iter("s/1/")]

    assert [item.key for item in everything] == sorted(keys)
    assert StoredObject(key="s/1/b.dcm", size=len("s/1/b.dcm")) in everything
    assert under_s1 == ["s/1/a", "s/1/b", "s/1/b.dcm", "s/1/c/d", "s/10/a"]
    assert under_s1_dir == ["s/1/a", "s/1/b", "s/1/b.dcm", "s/1/c/d"]
    assert list(store.iter("nothing/here/")) == []


@pytest.mark.parametrize(
    "key",
    ["", "../escape", "a/../../escape", "/etc/passwd", "a//b", "a/./b", "a\\b", "trailing/", "a/\x00b", "a/.partial-x"],
)
def test_keys_that_could_escape_or_collide_are_rejected(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put(key, io.BytesIO(b"x"))
    with pytest.raises(ValueError):
        store.open(key)
    with pytest.raises(ValueError):
        store.delete(key)
    with pytest.raises(ValueError):
        store.exists(key)


@pytest.mark.parametrize("declared", [5, 7], ids=["source-longer", "source-shorter"])
def test_size_mismatch_stores_nothing_and_keeps_the_old_object(store: ObjectStore, declared: int) -> None:
    store.put("declared", io.BytesIO(b"old"))

    with pytest.raises(ValueError):
        store.put("declared", io.BytesIO(b"sixsix"), size=declared)

    assert read_all(store, "declared") == b"old"


@pytest.mark.parametrize("fail_at", [100, 12 * MIB], ids=["first-part", "after-two-parts"])
def test_source_failing_mid_stream_leaves_no_object(store: ObjectStore, fail_at: int) -> None:
    source = PatternStream(20 * MIB, fail_at=fail_at)

    with pytest.raises(SourceBroke):
        store.put("broken/upload", source.as_binary())

    assert not store.exists("broken/upload")
    assert list(store.iter()) == []
    if isinstance(store, LocalObjectStore):
        assert [path for path in store.root.rglob("*") if path.is_file()] == [], "a temp file was left behind"


def test_readers_never_see_a_partial_object_while_it_is_replaced(store: ObjectStore) -> None:
    """One writer keeps swapping two 6 MiB versions; concurrent readers see one whole version or the other."""
    size = 6 * MIB
    versions = {pattern_digest(size, seed=seed): seed for seed in (1, 2)}
    store.put("swapped", PatternStream(size, seed=1).as_binary(), size=size)
    done = threading.Event()

    def write() -> None:
        try:
            for round_number in range(8):
                store.put("swapped", PatternStream(size, seed=1 + round_number % 2).as_binary())
        finally:
            done.set()

    def read() -> list[str]:
        seen = []
        while not done.is_set():
            with store.open("swapped") as stream:
                seen.append(stream_digest(stream)[0])
        return seen

    with ThreadPoolExecutor(max_workers=3) as pool:
        readers = [pool.submit(read) for _ in range(2)]
        pool.submit(write).result()
        seen = [digest for reader in readers for digest in reader.result()]

    assert seen, "the readers read nothing"
    assert set(seen) <= set(versions)
