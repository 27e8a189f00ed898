"""The table printed when an upload ends: stored, already present, failed by reason."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from imaging_cloud.uploader.upload import UploadSummary


def render_summary(summary: UploadSummary, console: Console, *, show_failed_files: bool = False) -> None:
    """Counts only by default: hospital folder names can carry patient names, so paths need ``show_failed_files``."""
    table = Table(title="upload summary", show_lines=False)
    table.add_column("outcome")
    table.add_column("reason")
    table.add_column("files", justify="right")
    table.add_row("stored", "", str(summary.stored))
    table.add_row("already present", "resume state", str(summary.already_present))
    for reason, paths in sorted(summary.failed.items()):
        table.add_row("[red]failed", reason, str(len(paths)))
    if summary.not_attempted:
        table.add_row("[yellow]not attempted", "run aborted", str(summary.not_attempted))
    if summary.not_dicom:
        table.add_row("skipped", "not a DICOM file", str(summary.not_dicom))
    console.print(table)
    megabytes = summary.bytes_sent / 1e6
    rate = megabytes / summary.seconds if summary.seconds > 0 else 0.0
    console.print(f"{summary.requests} STOW requests, {megabytes:.1f} MB in {summary.seconds:.1f} s ({rate:.1f} MB/s)")
    if summary.aborted:
        console.print(f"[red]aborted:[/red] {summary.aborted}")
    if show_failed_files:
        for reason, paths in sorted(summary.failed.items()):
            for path in paths:
                console.print(f"failed ({reason}): {path}", markup=False, highlight=False)
