"""Read the report upload (``multipart/form-data``) as a stream, within the report size limit.

FastAPI's ``UploadFile``/``Form`` parameters would have Starlette parse the whole form before the route runs,
with no limit on the file part; instead the body goes through the same bounded multipart receiver as STOW-RS
(parts spooled to memory up to a threshold, then to a temp file; 413 the moment a limit is crossed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import Message

from imaging_cloud.dicomweb.media_types import MediaType
from imaging_cloud.dicomweb.multipart_upload import SpooledPart, receive_parts
from imaging_cloud.errors import BadRequest, Unprocessable, UnsupportedMediaType

TEXT_FIELDS = ("study_instance_uid", "report_id", "title", "status", "link_token")
FILE_FIELD = "file"
MAX_FIELD_BYTES = 4096
FORM_OVERHEAD_BYTES = 64 * 1024
"""Room for the small text fields and part headers on top of the report file itself."""


@dataclass
class ReportForm:
    """The parsed form; ``file`` is a spooled part the caller must ``close``."""

    fields: dict[str, str]
    file: SpooledPart
    filename: str

    @property
    def file_type(self) -> MediaType:
        return MediaType.parse(self.file.content_type)

    def close(self) -> None:
        self.file.close()


def _disposition(part: SpooledPart) -> tuple[str, str | None]:
    message = Message()
    message["content-disposition"] = part.headers.get("content-disposition", "")
    if message.get_content_disposition() != "form-data":
        raise BadRequest("every part needs Content-Disposition: form-data", code="malformed-form")
    name = message.get_param("name", header="content-disposition")
    filename = message.get_filename()
    if not isinstance(name, str) or not name:
        raise BadRequest("a form part has no field name", code="malformed-form")
    return name, filename


async def read_report_form(
    content_type: str, body: AsyncIterator[bytes], *, max_file_bytes: int, memory_limit: int
) -> ReportForm:
    """Parse the upload; 415 when not multipart/form-data, 400 malformed, 413 too large, 422 fields missing."""
    media = MediaType.parse(content_type)
    if media.type != "multipart/form-data":
        raise UnsupportedMediaType("reports are uploaded as multipart/form-data", code="unsupported-media-type")
    boundary = media.params.get("boundary", "")
    if not boundary or len(boundary) > 70:
        raise BadRequest("the multipart boundary is missing or invalid", code="missing-boundary")
    parts = await receive_parts(
        body,
        boundary,
        memory_limit=memory_limit,
        max_part_bytes=max_file_bytes,
        max_request_bytes=max_file_bytes + FORM_OVERHEAD_BYTES,
    )
    keep: SpooledPart | None = None
    form: ReportForm | None = None
    try:
        fields: dict[str, str] = {}
        filename = ""
        for part in parts:
            name, part_filename = _disposition(part)
            if name in fields or (name == FILE_FIELD and keep is not None):
                raise BadRequest("a form field is repeated", code="malformed-form", detail={"field": name})
            if name == FILE_FIELD:
                keep, filename = part, part_filename or ""
            elif name in TEXT_FIELDS:
                fields[name] = _text_value(part, name)
            else:
                raise BadRequest("the form has an unexpected field", code="malformed-form", detail={"field": name})
        missing = [name for name in ("study_instance_uid", "report_id") if not fields.get(name)]
        if keep is None:
            missing.append(FILE_FIELD)
        if missing or keep is None:
            raise Unprocessable(
                "the form lacks required fields",
                code="invalid-request",
                detail=[{"loc": ["body", name], "msg": "field required"} for name in missing],
            )
        form = ReportForm(fields=fields, file=keep, filename=filename)
        return form
    finally:
        for part in parts:
            if form is None or part is not form.file:
                part.close()


def _text_value(part: SpooledPart, name: str) -> str:
    if part.size > MAX_FIELD_BYTES:
        raise Unprocessable(
            "a form field is too long", code="invalid-request", detail=[{"loc": ["body", name], "msg": "too long"}]
        )
    try:
        return part.file.read().decode("utf-8").strip()
    except UnicodeDecodeError:
        raise Unprocessable(
            "a form field is not UTF-8", code="invalid-request", detail=[{"loc": ["body", name], "msg": "not UTF-8"}]
        ) from None
