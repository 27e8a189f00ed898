"""The progress bar: files done, bytes sent, MB/s and ETA (rich); a silent variant for library callers."""

from __future__ import annotations

from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class UploadProgress(Protocol):
    """What the uploader reports while it runs; called from worker threads."""

    def start(self, files: int, total_bytes: int) -> None: ...

    def advance_bytes(self, count: int) -> None:
        """``count`` more file bytes left (negative when a request is retried from its start)."""
        ...

    def files_done(self, count: int) -> None: ...

    def stop(self) -> None: ...


class SilentProgress:
    def start(self, files: int, total_bytes: int) -> None:
        pass

    def advance_bytes(self, count: int) -> None:
        pass

    def files_done(self, count: int) -> None:
        pass

    def stop(self) -> None:
        pass


class RichProgress:
    """One bar over bytes (so speed and ETA are in MB/s), with the file count beside it."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]uploading"),
            BarColumn(),
            TextColumn("{task.fields[done]}/{task.fields[files]} files"),
            DownloadColumn(binary_units=False),
            TransferSpeedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._done = 0

    def start(self, files: int, total_bytes: int) -> None:
        self._done = 0
        self._progress.start()
        self._task = self._progress.add_task("upload", total=max(total_bytes, 1), files=files, done=0)

    def advance_bytes(self, count: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, count)

    def files_done(self, count: int) -> None:
        if self._task is not None:
            self._done += count
            self._progress.update(self._task, done=self._done)

    def stop(self) -> None:
        self._progress.stop()
