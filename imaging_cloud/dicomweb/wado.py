"""WADO-RS (PS3.18 §10.4): retrieve studies, series, instances, metadata, frames, pixel bulk data, rendered images
and thumbnails — every route authorized for the study and narrowed to the instances the principal may see.

* Instances stream from the object store as ``multipart/related; type="application/dicom"``, one chunk at a time;
  as stored with ``transfer-syntax=*`` (or the stored UID), else converted to Explicit (default) or Implicit VR
  Little Endian one instance at a time. Anything else is 406.
* ``/metadata`` is built from the index (no object is read); PixelData carries a ``BulkDataURI`` to ``/bulkdata``.
* ``/frames/{list}`` and ``/bulkdata/7FE00010`` serve decoded (``application/octet-stream``) or stored compressed
  frames; a frame number beyond the object's frames is a 404 ``frame-not-found``.
* ``/rendered`` and ``/thumbnail`` give JPEG (default) or PNG, rendered on a worker thread; at study and series
  level they show the first image instance the principal may see (one image, not a multipart).

Administrators and auditors see no study at all (404), so they never receive image bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from auth.policy import Action
from auth.principals import Principal
from imaging_cloud.access.principal import CurrentPrincipal
from imaging_cloud.audit.recorder import Audit, audited
from imaging_cloud.audit.vocabulary import AuditAction
from imaging_cloud.dicomweb.frames import (
    FrameRepresentation,
    all_decoded_frames,
    check_frame_numbers,
    choose_frame_representation,
    compressed_frames,
    decoded_frames,
    parse_frame_numbers,
)
from imaging_cloud.dicomweb.multipart_response import Part, multipart_response
from imaging_cloud.dicomweb.negotiation import MediaRange, choose_single, parse_accept, require_dicom_json
from imaging_cloud.dicomweb.object_access import iter_chunks, iter_object, open_object, seekable_object
from imaging_cloud.dicomweb.rendering import (
    RENDERED_MEDIA_TYPES,
    THUMBNAIL_SIZE,
    RenderRequest,
    Viewport,
    parse_render_parameters,
    render_frame,
)
from imaging_cloud.dicomweb.retrieval import StoredInstance, Target, authorized_instances
from imaging_cloud.dicomweb.transcoding import choose_transfer_syntax, served_syntax, transcode
from imaging_cloud.dicomweb.urls import ResourceUrls
from imaging_cloud.errors import ERROR_RESPONSES, BadRequest, NotFound
from imaging_cloud.runtime import Runtime, get_runtime
from imaging_cloud.storage.protocol import ObjectStore

router = APIRouter(
    prefix="/dicomweb",
    tags=["dicomweb"],
    responses={**ERROR_RESPONSES, 406: {"description": "No acceptable representation (Accept)"}},
)

RuntimeDependency = Annotated[Runtime, Depends(get_runtime)]
PIXEL_DATA = "7FE00010"
#: Frame numbers beyond this many are counted, not listed, in the audit event.
_MAX_LISTED_FRAMES = 64
_DICOM_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {'multipart/related; type="application/dicom"': {}}, "description": "The instances"}
}
_IMAGE_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "The rendered image"}
}


def _accept(request: Request) -> list[MediaRange]:
    return parse_accept(request.headers.getlist("accept"))


@contextmanager
def _access(
    audit: Audit,
    principal: Principal,
    target: Target,
    *,
    with_attributes: bool = False,
    details: dict[str, Any] | None = None,
) -> Iterator[list[StoredInstance]]:
    """The visible instances of ``target``; the block checks them, then the access is recorded and committed.

    Checks that can still refuse the request (frame numbers, Accept, the object being there) run inside the
    block, so the event records what is actually served, and it is committed before any byte leaves.
    """
    with audit.transaction() as uow:
        study, instances = authorized_instances(
            uow.session, principal, Action.RETRIEVE, target, with_attributes=with_attributes
        )
        yield instances
        audit.allow(uow.session, access=study, details={"instances": len(instances), **(details or {})})


def _with_pixels(instances: list[StoredInstance]) -> StoredInstance:
    for instance in instances:
        if instance.has_pixels:
            return instance
    raise NotFound("the resource has no pixel data", code="no-pixel-data")


# -- instances -------------------------------------------------------------------------------------------------


def _transcoded(store: ObjectStore, key: str, target: str) -> Iterator[bytes]:
    with seekable_object(store, key) as source:
        converted = transcode(source, target)
    yield from iter_chunks(converted)


def _dicom_parts(
    store: ObjectStore, instances: list[StoredInstance], requested: str, urls: ResourceUrls
) -> Iterator[Part]:
    """Each instance as one part; its object is opened only when its turn comes and closed after it."""
    for instance in instances:
        served = served_syntax(instance.transfer_syntax_uid, requested)
        body = (
            iter_object(store, instance.object_key)
            if served == instance.transfer_syntax_uid
            else _transcoded(store, instance.object_key, served)
        )
        location = urls.instance(instance.study_uid, instance.series_uid, instance.sop_uid)
        yield Part(f"application/dicom; transfer-syntax={served}", body, location)


def _retrieve(
    request: Request, runtime: Runtime, audit: Audit, principal: Principal, target: Target
) -> StreamingResponse:
    ranges = _accept(request)
    with _access(audit, principal, target) as instances:
        requested = choose_transfer_syntax(ranges, (i.transfer_syntax_uid for i in instances))
        # Open the first object before answering, so a missing object is a 503 rather than a truncated 200.
        open_object(runtime.store, instances[0].object_key).close()
    parts = _dicom_parts(runtime.store, instances, requested, ResourceUrls.of(request))
    return multipart_response(parts, "application/dicom")


@router.get("/studies/{study}", responses=_DICOM_DOC)
@audited(AuditAction.RETRIEVE)
def retrieve_study(
    study: str, request: Request, principal: CurrentPrincipal, runtime: RuntimeDependency, audit: Audit
) -> StreamingResponse:
    return _retrieve(request, runtime, audit, principal, Target(study))


@router.get("/studies/{study}/series/{series}", responses=_DICOM_DOC)
@audited(AuditAction.RETRIEVE)
def retrieve_series(
    study: str, series: str, request: Request, principal: CurrentPrincipal, runtime: RuntimeDependency, audit: Audit
) -> StreamingResponse:
    return _retrieve(request, runtime, audit, principal, Target(study, series))


@router.get("/studies/{study}/series/{series}/instances/{instance}", responses=_DICOM_DOC)
@audited(AuditAction.RETRIEVE)
def retrieve_instance(
    study: str,
    series: str,
    instance: str,
    request: Request,
    principal: CurrentPrincipal,
    runtime: RuntimeDependency,
    audit: Audit,
) -> StreamingResponse:
    return _retrieve(request, runtime, audit, principal, Target(study, series, instance))


# -- metadata --------------------------------------------------------------------------------------------------


def _pixel_data_vr(attributes: dict[str, Any], transfer_syntax: str) -> str:
    bits = (attributes.get("00280100", {}).get("Value") or [8])[0]
    uncompressed = transfer_syntax in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2")
    return "OW" if uncompressed and int(bits) > 8 else "OB"


def _metadata(request: Request, audit: Audit, principal: Principal, target: Target) -> JSONResponse:
    require_dicom_json(_accept(request))
    urls = ResourceUrls.of(request)
    items = []
    with _access(audit, principal, target, with_attributes=True) as instances:
        for instance in instances:
            item = dict(instance.attributes or {})
            if instance.has_pixels:
                item[PIXEL_DATA] = {
                    "vr": _pixel_data_vr(item, instance.transfer_syntax_uid),
                    "BulkDataURI": urls.bulkdata(instance.study_uid, instance.series_uid, instance.sop_uid, PIXEL_DATA),
                }
            items.append(dict(sorted(item.items())))
    return JSONResponse(items, media_type="application/dicom+json")


@router.get("/studies/{study}/metadata")
@audited(AuditAction.RETRIEVE_METADATA)
def retrieve_study_metadata(study: str, request: Request, principal: CurrentPrincipal, audit: Audit) -> JSONResponse:
    return _metadata(request, audit, principal, Target(study))


@router.get("/studies/{study}/series/{series}/metadata")
@audited(AuditAction.RETRIEVE_METADATA)
def retrieve_series_metadata(
    study: str, series: str, request: Request, principal: CurrentPrincipal, audit: Audit
) -> JSONResponse:
    return _metadata(request, audit, principal, Target(study, series))


@router.get("/studies/{study}/series/{series}/instances/{instance}/metadata")
@audited(AuditAction.RETRIEVE_METADATA)
def retrieve_instance_metadata(
    study: str,
    series: str,
    instance: str,
    request: Request,
    principal: CurrentPrincipal,
    audit: Audit,
) -> JSONResponse:
    return _metadata(request, audit, principal, Target(study, series, instance))


# -- frames and pixel bulk data --------------------------------------------------------------------------------


def _frame_parts(
    store: ObjectStore,
    instance: StoredInstance,
    numbers: list[int] | None,
    representation: FrameRepresentation,
    stack: ExitStack,
) -> Iterator[Part]:
    """One part per frame (``numbers``); ``None`` = all frames, decoded ones concatenated in one part."""
    with stack:
        source = stack.enter_context(seekable_object(store, instance.object_key))
        if numbers is None and representation.decoded:
            yield Part(representation.part_content_type, all_decoded_frames(source))
            return
        wanted = numbers or list(range(1, instance.number_of_frames + 1))
        frames = decoded_frames(source, wanted) if representation.decoded else compressed_frames(source, wanted)
        for frame in frames:
            yield Part(representation.part_content_type, (frame,))


def _frames_response(
    request: Request,
    runtime: Runtime,
    audit: Audit,
    principal: Principal,
    target: Target,
    numbers: list[int] | None,
) -> StreamingResponse:
    ranges = _accept(request)
    details: dict[str, Any] = {"frames": numbers[:_MAX_LISTED_FRAMES] if numbers is not None else "all"}
    with _access(audit, principal, target, details=details) as [instance]:
        if not instance.has_pixels:
            raise NotFound("the instance has no pixel data", code="no-pixel-data")
        if numbers is not None:
            check_frame_numbers(numbers, instance.number_of_frames)
        representation = choose_frame_representation(ranges, instance.transfer_syntax_uid)
        open_object(runtime.store, instance.object_key).close()
    stack = ExitStack()
    parts = _frame_parts(runtime.store, instance, numbers, representation, stack)
    return multipart_response(parts, representation.media_type, background=BackgroundTask(stack.close))


@router.get("/studies/{study}/series/{series}/instances/{instance}/frames/{frames}")
@audited(AuditAction.RETRIEVE_FRAMES)
def retrieve_instance_frames(
    study: str,
    series: str,
    instance: str,
    frames: str,
    request: Request,
    principal: CurrentPrincipal,
    runtime: RuntimeDependency,
    audit: Audit,
) -> StreamingResponse:
    numbers = parse_frame_numbers(frames)
    return _frames_response(request, runtime, audit, principal, Target(study, series, instance), numbers)


@router.get("/studies/{study}/series/{series}/instances/{instance}/bulkdata/{tag}")
@audited(AuditAction.RETRIEVE_BULKDATA)
def retrieve_bulkdata(
    study: str,
    series: str,
    instance: str,
    tag: str,
    request: Request,
    principal: CurrentPrincipal,
    runtime: RuntimeDependency,
    audit: Audit,
) -> StreamingResponse:
    """Bulk data by the ``BulkDataURI`` of ``/metadata``: the pixel data (7FE00010) is the only bulk value served."""
    if tag.upper() != PIXEL_DATA:
        raise NotFound("no bulk data at this URI", code="bulkdata-not-found")
    return _frames_response(request, runtime, audit, principal, Target(study, series, instance), None)


# -- rendered and thumbnails -----------------------------------------------------------------------------------


def _render(
    runtime: Runtime,
    audit: Audit,
    principal: Principal,
    target: Target,
    frame: int | None,
    options: RenderRequest,
) -> bytes:
    """Render, then record and commit the access, then hand the image back to be sent."""
    with _access(audit, principal, target, details={"frame": frame or 1}) as instances:
        instance = _with_pixels(instances)
        if frame is not None:
            check_frame_numbers([frame], instance.number_of_frames)
        request = RenderRequest(
            media_type=options.media_type,
            frame_index=(frame or 1) - 1,
            window=options.window,
            viewport=options.viewport,
            quality=options.quality,
        )
        with seekable_object(runtime.store, instance.object_key) as source:
            return render_frame(source, request)


async def _rendered(
    request: Request,
    runtime: Runtime,
    audit: Audit,
    principal: Principal,
    target: Target,
    *,
    frame: int | None = None,
    thumbnail: bool = False,
) -> Response:
    media_type = choose_single(_accept(request), RENDERED_MEDIA_TYPES, "a rendered image")
    options = parse_render_parameters(
        request.query_params.multi_items(),
        media_type,
        default_viewport=Viewport(THUMBNAIL_SIZE, THUMBNAIL_SIZE) if thumbnail else None,
    )
    content = await run_in_threadpool(_render, runtime, audit, principal, target, frame, options)
    return Response(content, media_type=media_type)


def _single_frame(frames: str) -> int:
    numbers = parse_frame_numbers(frames)
    if len(numbers) != 1:
        raise BadRequest("a rendered frame takes one frame number", code="multiple-frames")
    return numbers[0]


@router.get("/studies/{study}/rendered", responses=_IMAGE_DOC)
@audited(AuditAction.RETRIEVE_RENDERED)
async def retrieve_study_rendered(
    study: str, request: Request, principal: CurrentPrincipal, runtime: RuntimeDependency, audit: Audit
) -> Response:
    """One image: the first image instance of the study (in series / instance order) that the principal may see.

    A single image rather than a multipart of every instance, as dicomweb-client's ``retrieve_study_rendered``
    expects; viewers page through instances with the instance-level route.
    """
    return await _rendered(request, runtime, audit, principal, Target(study))


@router.get("/studies/{study}/series/{series}/rendered", responses=_IMAGE_DOC)
@audited(AuditAction.RETRIEVE_RENDERED)
async def retrieve_series_rendered(
    study: str, series: str, request: Request, principal: CurrentPrincipal, runtime: RuntimeDependency, audit: Audit
) -> Response:
    """One image: the series' first image instance the principal may see (see the study-level route)."""
    return await _rendered(request, runtime, audit, principal, Target(study, series))


@router.get("/studies/{study}/series/{series}/instances/{instance}/rendered", responses=_IMAGE_DOC)
@audited(AuditAction.RETRIEVE_RENDERED)
async def retrieve_instance_rendered(
    study: str,
    series: str,
    instance: str,
    request: Request,
    principal: CurrentPrincipal,
    runtime: RuntimeDependency,
    audit: Audit,
) -> Response:
    """The first frame (of a multi-frame object too), rendered; ``window``, ``viewport``, ``quality`` apply."""
    return await _rendered(request, runtime, audit, principal, Target(study, series, instance))


@router.get("/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/rendered", responses=_IMAGE_DOC)
@audited(AuditAction.RETRIEVE_RENDERED)
async def retrieve_frame_rendered(
    study: str,
    series: str,
    instance: str,
    frames: str,
    request: Request,
    principal: CurrentPrincipal,
    runtime: RuntimeDependency,
    audit: Audit,
) -> Response:
    frame = _single_frame(frames)
    return await _rendered(request, runtime, audit, principal, Target(study, series, instance), frame=frame)


@router.get("/studies/{study}/thumbnail", responses=_IMAGE_DOC)
@audited(AuditAction.RETRIEVE_THUMBNAIL)
async def retrieve_study_thumbnail(
    study: str, request: Request, principal: CurrentPrincipal, runtime: RuntimeDependency, audit: Audit
) -> Response:
    """The first image of the study's first series the principal may see, fitted into 128×128 by default."""
    return await _rendered(request, runtime, audit, principal, Target(study), thumbnail=True)


@router.get("/studies/{study}/series/{series}/thumbnail", responses=_IMAGE_DOC)
@audited(AuditAction.RETRIEVE_THUMBNAIL)
async def retrieve_series_thumbnail(
    study: str, series: str, request: Request, principal: CurrentPrincipal, runtime: RuntimeDependency, audit: Audit
) -> Response:
    return await _rendered(request, runtime, audit, principal, Target(study, series), thumbnail=True)


@router.get("/studies/{study}/series/{series}/instances/{instance}/thumbnail", responses=_IMAGE_DOC)
@audited(AuditAction.RETRIEVE_THUMBNAIL)
async def retrieve_instance_thumbnail(
    study: str,
    series: str,
    instance: str,
    request: Request,
    principal: CurrentPrincipal,
    runtime: RuntimeDependency,
    audit: Audit,
) -> Response:
    return await _rendered(request, runtime, audit, principal, Target(study, series, instance), thumbnail=True)


@router.get("/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/thumbnail", responses=_IMAGE_DOC)
@audited(AuditAction.RETRIEVE_THUMBNAIL)
async def retrieve_frame_thumbnail(
    study: str,
    series: str,
    instance: str,
    frames: str,
    request: Request,
    principal: CurrentPrincipal,
    runtime: RuntimeDependency,
    audit: Audit,
) -> Response:
    frame = _single_frame(frames)
    return await _rendered(
        request, runtime, audit, principal, Target(study, series, instance), frame=frame, thumbnail=True
    )
