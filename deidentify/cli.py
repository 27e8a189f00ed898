"""``deidentify`` command line: de-identify a folder on the hospital's own premises, verify, explain.

Commands::

    deidentify run IN OUT --profile NAME|FILE.toml --keys KEYFILE [--jobs N] [--refused-list FILE]
    deidentify verify PATH --known-identifiers FILE
    deidentify report IN OUT --known-identifiers FILE [--charset utf-8|gb18030]
    deidentify profiles
    deidentify explain TAG

``run`` reads every file under IN (recursively), de-identifies it, verifies the result (no residue of the
identifiers harvested from its header, no original UID) and writes ``OUT/<study>/<series>/<sop>.dcm`` named from
the de-identified UIDs only, never from input names. PatientID becomes ``make_pseudonym(PatientID as found,
pseudonym_key)``. A closing summary counts done and refused files by reason; ``--refused-list`` writes the
refused input paths (which may themselves hold identifiers) to a file for the operator.

KEYFILE is JSON: ``{"uid_key": "...", "pseudonym_key": "...", "date_shift_key": "..."}`` (UTF-8 strings of at
least 16 bytes; ``date_shift_key`` only for the research profile). The known-identifiers file is JSON with the
fields of :class:`deidentify.KnownIdentifiers` (``names``, ``ids``, ``phones``, ``addresses``: lists of strings).

``report`` de-identifies one stand-alone report: a PDF (``%PDF-`` content) is rebuilt as page images with the
identifiers blacked out, anything else is read as text in ``--charset`` and written back as scrubbed UTF-8.

Exit codes: 0 every file done / clean; 1 some files refused (run, report) or residue found (verify); 2 usage
error.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deidentify.custom_profiles import ProfileError, load_profile
from deidentify.deidentifier import deidentify
from deidentify.errors import DeidentificationError
from deidentify.keys import Keys, make_pseudonym
from deidentify.ocr import RapidOcrDetector, TextDetector
from deidentify.pixel_risk import CLEAN_PIXEL_DATA
from deidentify.profiles import PROFILES, Profile, get_profile
from deidentify.reports import redact_pdf_report, scrub_text_report
from deidentify.subjects import KnownIdentifiers, Subject
from deidentify.table import (
    ActionCode,
    Option,
    format_tag,
    is_curve_group,
    is_overlay_group,
    load_table,
    parse_tag,
    row_for_tag,
)
from deidentify.uids import collect_uids
from deidentify.verification import verify

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
MIN_KEY_BYTES = 16
DEFER_SIZE = 512 * 1024


class UsageError(Exception):
    """Bad arguments or input files: exit code 2."""


@dataclass(frozen=True)
class CliKeys:
    uid_key: bytes
    pseudonym_key: bytes
    date_shift_key: bytes | None


@dataclass(frozen=True)
class RunContext:
    """What every file of a run shares; sent once to each worker process."""

    out_root: str
    profile: Profile
    keys: CliKeys


@dataclass(frozen=True)
class Outcome:
    done: bool
    reason: str
    source: str
    output: str = ""


def load_keys(path: Path) -> CliKeys:
    """Read and check the keys file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"keys file unreadable: {type(exc).__name__}") from None
    if not isinstance(document, dict):
        raise UsageError("keys file: expected a JSON object")

    def key(name: str, required: bool) -> bytes | None:
        value = document.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or len(value.encode("utf-8")) < MIN_KEY_BYTES:
            raise UsageError(f"keys file: {name} must be a string of at least {MIN_KEY_BYTES} bytes")
        return value.encode("utf-8")

    uid_key = key("uid_key", True)
    pseudonym_key = key("pseudonym_key", True)
    assert uid_key is not None and pseudonym_key is not None
    return CliKeys(uid_key, pseudonym_key, key("date_shift_key", False))


def load_known(path: Path) -> KnownIdentifiers:
    """Read a known-identifiers JSON file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"known-identifiers file unreadable: {type(exc).__name__}") from None
    if not isinstance(document, dict):
        raise UsageError("known-identifiers file: expected a JSON object")
    fields: dict[str, tuple[str, ...]] = {}
    for name in ("names", "ids", "phones", "addresses"):
        values = document.get(name, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise UsageError(f"known-identifiers file: {name} must be a list of strings")
        fields[name] = tuple(values)
    unknown = set(document) - set(fields)
    if unknown:
        raise UsageError(f"known-identifiers file: unknown fields {sorted(unknown)}")
    return KnownIdentifiers(**fields)


def iter_files(root: Path, exclude: Path | None = None) -> Iterator[Path]:
    """Regular files under ``root`` (or ``root`` itself), sorted, skipping ``exclude``'s subtree."""
    if root.is_file():
        yield root
        return
    for directory, subdirs, files in os.walk(root):
        here = Path(directory)
        if exclude is not None:
            subdirs[:] = [d for d in subdirs if (here / d).resolve() != exclude]
        subdirs.sort()
        for name in sorted(files):
            yield here / name


_worker_context: RunContext | None = None
_worker_detector: TextDetector | None = None


def _init_worker(context: RunContext) -> None:
    global _worker_context, _worker_detector  # noqa: PLW0603 - one of each per worker process (pool initializer)
    _worker_context = context
    # one OCR thread per worker: the pool already uses every core (the engine loads on the first image needing it)
    _worker_detector = RapidOcrDetector(threads=1)


def _process_in_worker(source: str) -> Outcome:
    assert _worker_context is not None
    return process_file(source, _worker_context, _worker_detector)


def process_file(source: str, context: RunContext, text_detector: TextDetector | None = None) -> Outcome:
    """De-identify, verify and write one file; never raises for bad input."""
    try:
        dataset = pydicom.dcmread(source, defer_size=DEFER_SIZE)
    except InvalidDicomError:
        return Outcome(False, "not-dicom", source)
    except Exception:  # truncated or corrupt files raise many types
        return Outcome(False, "unreadable", source)
    try:
        patient_id = str(dataset.get("PatientID", "") or "").strip()
        original_uids = collect_uids(dataset)
    except Exception:
        return Outcome(False, "unreadable", source)
    if not patient_id:
        return Outcome(False, "no-patient-id", source)
    profile = context.profile
    keys = Keys(uid_key=context.keys.uid_key, date_shift_key=context.keys.date_shift_key)
    subject = Subject(pseudonym=make_pseudonym(patient_id, context.keys.pseudonym_key), person_ref=patient_id)
    try:
        result = deidentify(dataset, profile=profile, keys=keys, subject=subject, text_detector=text_detector)
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, result.dataset, enforce_file_format=True)
        data = buffer.getvalue()
        findings = verify(data, result.known, original_uids=original_uids)
    except DeidentificationError as exc:
        return Outcome(False, exc.code, source)
    except Exception:  # values pydicom cannot re-encode
        return Outcome(False, "cannot-encode", source)
    if findings:
        return Outcome(False, "residue:" + ",".join(sorted({f.kind for f in findings})), source)
    ds = result.dataset
    relative = Path(str(ds.StudyInstanceUID)) / str(ds.SeriesInstanceUID) / f"{ds.SOPInstanceUID}.dcm"
    target = Path(context.out_root) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".partial-", delete=False) as handle:
        handle.write(data)
        temporary = Path(handle.name)
    os.replace(temporary, target)
    return Outcome(True, "done", source, relative.as_posix())


def _profile(name_or_path: str) -> Profile:
    """A built-in profile by name, or a custom one from a ``.toml`` file."""
    if name_or_path.endswith(".toml"):
        try:
            return load_profile(Path(name_or_path))
        except ProfileError as exc:
            raise UsageError(f"profile file: {exc}") from None
    try:
        return get_profile(name_or_path)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None


def _run(args: argparse.Namespace, console: Console) -> int:
    source = Path(args.input)
    out_root = Path(args.output)
    if not source.exists():
        raise UsageError("input path does not exist")
    profile = _profile(args.profile)
    keys = load_keys(Path(args.keys))
    if Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in profile.options and keys.date_shift_key is None:
        raise UsageError(f"profile {profile.name} needs date_shift_key in the keys file")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    out_root.mkdir(parents=True, exist_ok=True)
    files = list(iter_files(source, exclude=out_root.resolve()))
    context = RunContext(str(out_root), profile, keys)
    sources = [str(path) for path in files]
    outcomes: list[Outcome] = []
    columns = (TextColumn("de-identifying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("run", total=len(sources))
        if args.jobs == 1 or len(sources) <= 1:
            for source_file in sources:
                outcomes.append(process_file(source_file, context))
                progress.advance(task)
        else:
            workers = min(args.jobs, len(sources))
            with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(context,)) as pool:
                for outcome in pool.map(_process_in_worker, sources, chunksize=4):
                    outcomes.append(outcome)
                    progress.advance(task)
    done = sum(1 for o in outcomes if o.done)
    refused = Counter(o.reason for o in outcomes if not o.done)
    print(f"done: {done}")
    print(f"refused: {sum(refused.values())}")
    for reason, count in sorted(refused.items()):
        print(f"  {reason}: {count}")
    if args.refused_list:
        lines = [
            json.dumps({"source": o.source, "reason": o.reason}, ensure_ascii=False) for o in outcomes if not o.done
        ]
        Path(args.refused_list).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return EXIT_REFUSED if refused else EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    root = Path(args.path)
    if not root.exists():
        raise UsageError("path does not exist")
    known = load_known(Path(args.known_identifiers))
    dirty = 0
    for path in iter_files(root):
        label = path.relative_to(root).as_posix() if root.is_dir() else path.name
        try:
            findings = verify(path.read_bytes(), known)
        except DeidentificationError as exc:
            print(f"{label}: unreadable ({exc.code})")
            dirty += 1
            continue
        if findings:
            dirty += 1
            for finding in findings:
                print(f"{label}: {finding.kind} at {finding.path} ({finding.encoding})")
    print(f"files with findings: {dirty}")
    return EXIT_REFUSED if dirty else EXIT_OK


def _report(args: argparse.Namespace) -> int:
    source, target = Path(args.input), Path(args.output)
    if not source.is_file():
        raise UsageError("input report does not exist")
    known = load_known(Path(args.known_identifiers))
    data = source.read_bytes()
    try:
        if b"%PDF-" in data[:1024]:
            buffer = io.BytesIO()
            result = redact_pdf_report(data, buffer, known)
            output, summary = buffer.getvalue(), f"pdf: {result.pages} pages, {result.boxes} boxes blacked out"
        else:
            output, summary = scrub_text_report(data, args.charset, known), "text: scrubbed"
    except DeidentificationError as exc:
        print(f"refused: {exc.code}")
        return EXIT_REFUSED
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(output)
    print(summary)
    return EXIT_OK


def _profiles() -> int:
    for profile in PROFILES.values():
        print(profile.name)
        print(f"  {profile.description}")
        options = sorted(option.value for option in profile.options)
        if profile.clean_pixel_data is not None:
            options = sorted([*options, CLEAN_PIXEL_DATA])
        print(f"  options: {', '.join(options)}")
    return EXIT_OK


PIXEL_DATA = 0x7FE00010


def _explain_rule(profile: Profile, tag: int) -> str:
    if tag == PIXEL_DATA and profile.clean_pixel_data is not None:
        return "clean pixel data: text found by OCR in objects at risk of burned-in text is blacked out"
    rule = profile.rule_for(tag)
    if rule is None:
        return "not listed: kept; text scrubbed of identifiers, UIDs remapped, UN removed, PN dummied"
    if tag >> 16 & 1:
        if Option.RETAIN_SAFE_PRIVATE in profile.options:
            return f"{rule.table_code} ({rule.reason}) → kept if Table E.3.10-1 lists it for its private creator"
        return f"{rule.table_code} ({rule.reason}) → removed"
    if (is_overlay_group(tag >> 16) or is_curve_group(tag >> 16)) and rule.action != ActionCode.KEEP:
        return f"{rule.action.value} (table {rule.table_code}, {rule.reason}) → group removed (graphics not cleanable)"
    return f"{rule.action.value} (table {rule.table_code or '-'}, {rule.reason})"


def _explain(args: argparse.Namespace) -> int:
    try:
        tag = parse_tag(args.tag)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    row = row_for_tag(tag)
    print(f"{format_tag(tag)}  PS3.15 {load_table().edition} Table E.1-1")
    if row is None:
        print("  not listed in the table")
    else:
        print(f"  row {row.tag} {row.name} ({row.keyword or 'unknown to pydicom'}, VR {row.vr or '-'})")
        print(f"  basic profile: {row.basic_profile_action}")
        for option, code in row.options.items():
            print(f"  option {option.value}: {code}")
    for profile in PROFILES.values():
        print(f"  {profile.name}: {_explain_rule(profile, tag)}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deidentify",
        description="De-identify DICOM files (PS3.15 Annex E) and verify the result.",
        epilog="exit codes: 0 all done/clean, 1 some refused or residue found, 2 usage error",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="de-identify a file or folder (recursively)")
    run.add_argument("input", metavar="IN")
    run.add_argument("output", metavar="OUT")
    run.add_argument(
        "--profile",
        default="clinical-sharing",
        metavar="NAME|FILE.toml",
        help=f"built-in profile ({', '.join(sorted(PROFILES))}) or a custom profile file",
    )
    run.add_argument("--keys", required=True, metavar="KEYFILE")
    run.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N")
    run.add_argument("--refused-list", metavar="FILE", help="write refused input paths and reasons (JSON lines)")
    check = commands.add_parser("verify", help="search files for residue of known identifiers")
    check.add_argument("path", metavar="PATH")
    check.add_argument("--known-identifiers", required=True, metavar="FILE")
    report = commands.add_parser("report", help="de-identify a stand-alone PDF or text report")
    report.add_argument("input", metavar="IN")
    report.add_argument("output", metavar="OUT")
    report.add_argument("--known-identifiers", required=True, metavar="FILE")
    report.add_argument("--charset", default="utf-8", help="charset of a text report (utf-8, gb18030, gbk)")
    commands.add_parser("profiles", help="list the built-in profiles")
    explain = commands.add_parser("explain", help="what each profile does to a tag, and why")
    explain.add_argument("tag", metavar="TAG", help="(0010,0010), 00100010 or a keyword")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code not in (0, None) else EXIT_OK
    console = Console(stderr=True)
    try:
        if args.command == "run":
            return _run(args, console)
        if args.command == "verify":
            return _verify(args)
        if args.command == "report":
            return _report(args)
        if args.command == "profiles":
            return _profiles()
        return _explain(args)
    except UsageError as exc:
        print(f"deidentify: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
