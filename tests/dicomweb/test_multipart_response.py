"""multipart/related responses: framing a strict reader accepts, produced lazily part by part."""

from __future__ import annotations

from collections.abc import Iterator

from imaging_cloud.dicomweb.multipart_response import Part, encode_parts, multipart_response
from tests.dicomweb.conftest import multipart_parts


def test_parts_are_framed_with_headers_and_location() -> None:
    parts = [
        Part("application/dicom; transfer-syntax=1.2.840.10008.1.2.1", [b"first", b"\r\n--not-a-boundary"], "/a"),
        Part("application/dicom", [b""]),
    ]
    body = b"".join(encode_parts(parts, "b0undary"))
    read = multipart_parts('multipart/related; type="application/dicom"; boundary=b0undary', body)
    assert [p.content for p in read] == [b"first\r\n--not-a-boundary", b""]
    assert read[0].headers == {
        "content-type": "application/dicom; transfer-syntax=1.2.840.10008.1.2.1",
        "content-location": "/a",
    }


def test_bodies_are_read_only_as_the_response_streams() -> None:
    consumed: list[str] = []

    def body(name: str) -> Iterator[bytes]:
        consumed.append(name)
        yield name.encode()

    stream = encode_parts((Part("application/octet-stream", body(n)) for n in ("one", "two")), "b")
    assert next(stream).startswith(b"--b\r\n")
    assert consumed == []
    assert next(stream) == b"one"
    assert consumed == ["one"]
    assert b"".join(stream).endswith(b"two\r\n--b--\r\n")
    response = multipart_response(iter(()), "application/dicom")
    assert response.media_type is not None
    assert response.media_type.startswith('multipart/related; type="application/dicom"; boundary=')
