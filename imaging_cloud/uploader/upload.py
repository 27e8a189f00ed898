"""Upload a folder, a file or a DICOMDIR to the service over STOW-RS: batched, streamed, parallel, retried, resumable.

Flow: discover files → drop those the resume state says are stored → batches (count and bytes) → N worker
threads, each streaming one multipart/related request at a time → map the PS3.18 response back to files →
record outcomes in the resume state → summary. Per-file failures are outcomes with a reason; only an
unreachable service or refused credentials stop the run (``UploadAborted``).

With ``local`` (:mod:`imaging_cloud.uploader.local_deidentification`) the files left to send are first
de-identified on this machine; their de-identified copies are what the batches carry, while the resume state,
the summary and the manifest speak of the original files.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import httpx
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info

from imaging_cloud.uploader.batching import DEFAULT_BATCH_BYTES, DEFAULT_BATCH_FILES, batches
from imaging_cloud.uploader.credentials import TokenSource
from imaging_cloud.uploader.discovery import SourceFile, discover
from imaging_cloud.uploader.errors import NotAuthorized, ServiceUnreachable, UploadAborted
from imaging_cloud.uploader.local_deidentification import LocalDeidentification
from imaging_cloud.uploader.multipart import MultipartBody, SourceChanged
from imaging_cloud.uploader.progress import SilentProgress, UploadProgress
from imaging_cloud.uploader.retry import RetryPolicy, is_transient
from imaging_cloud.uploader.state import FAILED, STORED, ResumeState, default_state_path
from imaging_cloud.uploader.stow_response import InstanceFailure, parse_stow_response

logger = logging.getLogger(__name__)

#: Statuses whose body is a PS3.18 STOW response (all stored / some failed / none stored).
_STOW_STATUSES = frozenset({200, 202, 409})


class Outcome(StrEnum):
    STORED = "stored"
    FAILED = "failed"
    NOT_ATTEMPTED = "not-attempted"


@dataclass(frozen=True)
class FileResult:
    source: SourceFile
    outcome: Outcome
    reason: str | None = None


@dataclass(frozen=True)
class UploadOptions:
    batch_files: int = DEFAULT_BATCH_FILES
    batch_bytes: int = DEFAULT_BATCH_BYTES
    parallel: int = 4
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    resume: bool = False
    state_path: Path | None = None
    """Resume state file; None means ``default_state_path()``."""
    state_scope: str | None = None
    """What "already stored" is relative to in the resume state; None means the service URL."""


@dataclass
class UploadSummary:
    stored: int = 0
    already_present: int = 0
    """Skipped because the resume state says this machine already stored them on this service."""
    failed: dict[str, list[Path]] = field(default_factory=lambda: defaultdict(list))
    """Reason slug → files that failed for it."""
    not_dicom: int = 0
    not_attempted: int = 0
    aborted: str | None = None
    requests: int = 0
    bytes_sent: int = 0
    seconds: float = 0.0

    @property
    def failed_count(self) -> int:
        return sum(len(paths) for paths in self.failed.values())

    @property
    def exit_code(self) -> int:
        """0 all stored, 1 some files failed, 2 the run was aborted (connection or credentials)."""
        if self.aborted is not None:
            return 2
        return 1 if self.failed_count else 0


def service_base_url(url: str) -> str:
    """The service root from what an operator types (a trailing ``/`` or ``/dicomweb`` is accepted)."""
    base = url.strip().rstrip("/")
    base = base.removesuffix("/dicomweb")
    if not base.startswith(("http://", "https://")):
        raise ValueError("the service URL must start with http:// or https://")
    return base


def _local_sop_uid(source: SourceFile) -> str | None:
    try:
        meta = read_file_meta_info(source.path)
    except (InvalidDicomError, OSError, ValueError):
        return None
    uid = meta.get("MediaStorageSOPInstanceUID")
    return str(uid) if uid else None


def _attribute(files: Sequence[SourceFile], stored: int, failures: list[InstanceFailure]) -> list[FileResult] | None:
    """Match a STOW response to the files sent; None when the response does not say which file is which."""
    uids = {source.path: _local_sop_uid(source) for source in files}
    by_uid: dict[str, list[SourceFile]] = defaultdict(list)
    for source in files:
        uid = uids[source.path]
        if uid is not None:
            by_uid[uid].append(source)
    results: dict[Path, FileResult] = {}
    unattributed: list[str] = []
    for failure in failures:
        candidates = [s for s in by_uid.get(failure.sop_uid or "", []) if s.path not in results]
        if candidates:
            results[candidates[0].path] = FileResult(candidates[0], Outcome.FAILED, failure.reason)
        else:
            unattributed.append(failure.reason)
    rest = [s for s in files if s.path not in results]
    if unattributed:
        # Failures the service could not name by UID belong to files whose UID we could not read either.
        unreadable = [s for s in rest if uids[s.path] is None]
        if len(unreadable) != len(unattributed):
            return None
        for source, reason in zip(unreadable, unattributed, strict=True):
            results[source.path] = FileResult(source, Outcome.FAILED, reason)
        rest = [s for s in rest if s.path not in results]
    if stored != len(rest):
        return None
    results.update({s.path: FileResult(s, Outcome.STORED) for s in rest})
    return [results[s.path] for s in files]


def error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(code, str) and code and all(c.isalnum() or c in "-_." for c in code):
        return code[:64]
    return f"http-{response.status_code}"


class _Sender:
    """Sends one batch (thread-safe): retries, renews the token, splits or resends when it must."""

    def __init__(
        self,
        client: httpx.Client,
        service_url: str,
        tokens: TokenSource,
        retry: RetryPolicy,
        progress: UploadProgress,
        abort: threading.Event,
    ) -> None:
        self._client = client
        self._url = f"{service_url}/dicomweb/studies"
        self._tokens = tokens
        self._retry = retry
        self._progress = progress
        self._abort = abort
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes_sent = 0

    def _count(self, sent: int) -> None:
        with self._lock:
            self.requests += 1
            self.bytes_sent += sent

    def _post_once(self, files: Sequence[SourceFile]) -> tuple[httpx.Response, int]:
        body = MultipartBody(files)
        sent = 0

        def on_bytes(count: int) -> None:
            nonlocal sent
            sent += count
            self._progress.advance_bytes(count)

        headers = {
            "Content-Type": body.content_type,
            "Content-Length": str(body.content_length),
            "Accept": "application/dicom+json",
            "Authorization": f"Bearer {self._tokens.bearer()}",
        }
        try:
            response = self._client.post(self._url, content=body.iter_bytes(on_bytes), headers=headers)
        except BaseException:
            self._progress.advance_bytes(-sent)
            raise
        self._count(sent)
        return response, sent

    def _post(self, files: Sequence[SourceFile]) -> tuple[httpx.Response, int]:
        """The first non-transient answer, or the last transient one once the retries are spent."""
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response, sent = self._post_once(files)
            except httpx.TransportError as exc:
                if attempt >= self._retry.attempts:
                    raise ServiceUnreachable(f"cannot reach the service: {type(exc).__name__}") from exc
                logger.info("STOW request failed (%s); retrying", type(exc).__name__)
                time.sleep(self._retry.delay(attempt))
                continue
            if response.status_code == 401:
                self._progress.advance_bytes(-sent)
                if not renewed and self._tokens.renew():
                    renewed = True
                    attempt -= 1
                    continue
                raise NotAuthorized("the service refused the token (401)")
            if response.status_code == 403:
                raise NotAuthorized("this account may not upload studies (403)")
            if is_transient(response) and attempt < self._retry.attempts:
                self._progress.advance_bytes(-sent)
                logger.info("STOW request answered HTTP %d; retrying", response.status_code)
                time.sleep(self._retry.delay(attempt, response))
                continue
            return response, sent

    def send(self, files: Sequence[SourceFile]) -> list[FileResult]:
        if self._abort.is_set():
            return [FileResult(s, Outcome.NOT_ATTEMPTED) for s in files]
        try:
            response, sent = self._post(files)
        except SourceChanged:
            if len(files) == 1:
                return [FileResult(files[0], Outcome.FAILED, "file-changed-while-sending")]
            return self._one_by_one(files)
        if response.status_code == 413 and len(files) > 1:
            self._progress.advance_bytes(-sent)
            half = len(files) // 2
            return self.send(files[:half]) + self.send(files[half:])
        if response.status_code in _STOW_STATUSES:
            try:
                parsed = parse_stow_response(response.json())
            except ValueError:
                parsed = None
            if parsed is not None:
                results = _attribute(files, parsed.stored, parsed.failures)
                if results is not None:
                    return results
                if len(files) > 1:
                    self._progress.advance_bytes(-sent)
                    return self._one_by_one(files)
        reason = error_code(response)
        return [FileResult(s, Outcome.FAILED, reason) for s in files]

    def _one_by_one(self, files: Sequence[SourceFile]) -> list[FileResult]:
        """Resend each file alone so every outcome is unambiguous (storage is idempotent, so this is safe)."""
        results: list[FileResult] = []
        for source in files:
            results += self.send([source])
        return results


def upload(
    path: Path,
    *,
    service_url: str,
    tokens: TokenSource,
    client: httpx.Client,
    options: UploadOptions | None = None,
    progress: UploadProgress | None = None,
    local: LocalDeidentification | None = None,
) -> UploadSummary:
    """Upload everything under ``path``; raises ``UploadAborted`` only before any request was sent."""
    options = options or UploadOptions()
    progress = progress or SilentProgress()
    started = time.monotonic()
    service_url = service_base_url(service_url)
    found = discover(path)
    summary = UploadSummary(not_dicom=found.not_dicom)
    for missing in found.missing:
        summary.failed["missing-file"].append(missing)
    state = ResumeState.open(options.state_path or default_state_path()) if options.resume else None
    try:
        fingerprints: dict[Path, str] = {}
        to_send: list[SourceFile] = []
        for source in found.files:
            if state is not None:
                fingerprints[source.path] = state.fingerprint(options.state_scope or service_url, source)
                if state.is_stored(fingerprints[source.path]):
                    summary.already_present += 1
                    continue
            to_send.append(source)
        if to_send:
            tokens.bearer()  # wrong credentials or an unreachable service stop the run before any work
            sending = _Sending(service_url, tokens, client, options, progress, summary, state, fingerprints)
            if local is None:
                sending.run([(source, source) for source in to_send])
            else:
                with local.stage(to_send) as staged:
                    sending.fail(staged.failed)
                    sending.run(staged.pairs)
                local.write_manifest(staged, sending.outcomes)
    finally:
        if state is not None:
            state.close()
    summary.seconds = time.monotonic() - started
    return summary


@dataclass
class _Sending:
    """Sends (original, copy to send) pairs and accounts for every original: summary, resume state, outcomes."""

    service_url: str
    tokens: TokenSource
    client: httpx.Client
    options: UploadOptions
    progress: UploadProgress
    summary: UploadSummary
    state: ResumeState | None
    fingerprints: dict[Path, str]
    outcomes: list[tuple[SourceFile, str, str | None]] = field(default_factory=list)
    """(original, outcome, reason) in the order they were settled."""

    def _settle(self, results: Sequence[FileResult]) -> None:
        entries: list[tuple[str, str, str | None]] = []
        for result in results:
            path = result.source.path
            if result.outcome is Outcome.STORED:
                self.summary.stored += 1
                entries.append((self.fingerprints.get(path, ""), STORED, None))
            elif result.outcome is Outcome.FAILED:
                self.summary.failed[result.reason or "unspecified-failure"].append(path)
                entries.append((self.fingerprints.get(path, ""), FAILED, result.reason))
            else:
                self.summary.not_attempted += 1
            self.outcomes.append((result.source, result.outcome.value, result.reason))
        if self.state is not None:
            self.state.record(entries)

    def fail(self, failed: Sequence[tuple[SourceFile, str]]) -> None:
        """Files that failed before sending (in the local step)."""
        if failed:
            self._settle([FileResult(source, Outcome.FAILED, reason) for source, reason in failed])

    def run(self, pairs: Sequence[tuple[SourceFile, SourceFile]]) -> None:
        originals = {sent.path: original for original, sent in pairs}
        to_send = [sent for _original, sent in pairs]

        def as_original(results: list[FileResult]) -> list[FileResult]:
            return [FileResult(originals[r.source.path], r.outcome, r.reason) for r in results]

        _send_all(to_send, self, lambda results: self._settle(as_original(results)))


def _send_all(to_send: list[SourceFile], sending: _Sending, settle: Callable[[list[FileResult]], None]) -> None:
    options, progress, summary = sending.options, sending.progress, sending.summary
    abort = threading.Event()
    sender = _Sender(sending.client, sending.service_url, sending.tokens, options.retry, progress, abort)
    accounted = 0
    progress.start(files=len(to_send), total_bytes=sum(s.size for s in to_send))
    try:
        with ThreadPoolExecutor(max_workers=max(1, options.parallel), thread_name_prefix="stow") as pool:
            futures = [
                pool.submit(sender.send, batch)
                for batch in batches(to_send, max_files=options.batch_files, max_bytes=options.batch_bytes)
            ]
            for future in as_completed(futures):
                try:
                    results = future.result()
                except UploadAborted as exc:
                    abort.set()
                    summary.aborted = summary.aborted or str(exc)
                    continue
                accounted += len(results)
                settle(results)
                progress.files_done(len(results))
    finally:
        progress.stop()
    summary.not_attempted += len(to_send) - accounted
    summary.requests += sender.requests
    summary.bytes_sent += sender.bytes_sent
