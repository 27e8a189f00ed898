"""``imaging-cloud``: serve, migrate, seed the demo, upload studies, import cross-references, bootstrap, fsck, audit.

Exit codes: 0 success; 1 the command ran but something failed (files not stored, rows refused, fsck found
problems); 2 usage, configuration or connection error. Server-side commands read their settings from the
environment (``IMAGING_CLOUD_*``); client-side commands (upload, xref import) need only a URL and credentials.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import ssl
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.orm import Session

import deidentify
import deidentify.cli
from auth.principals import Role
from imaging_cloud.accounts.service import create_account, create_institution
from imaging_cloud.audit.operations import checkpoint_trail, verify_trail
from imaging_cloud.db.base import create_db_engine
from imaging_cloud.db.migrate import upgrade
from imaging_cloud.demo.banner import render_demo
from imaging_cloud.demo.seed import DemoFailed, DemoRefused, seed_demo
from imaging_cloud.dimse.peers import add_peer
from imaging_cloud.dimse.server import DEFAULT_AE_TITLE, DEFAULT_PORT, DimseOptions, StorageScp, serve_until_signalled
from imaging_cloud.dimse.tls import server_ssl_context
from imaging_cloud.errors import ApiError
from imaging_cloud.runtime import Runtime
from imaging_cloud.sessions.signing_keys import rotate_signing_key
from imaging_cloud.settings import Settings
from imaging_cloud.storage.fsck import run_fsck
from imaging_cloud.uploader.batching import DEFAULT_BATCH_BYTES, DEFAULT_BATCH_FILES
from imaging_cloud.uploader.credentials import ClientCredentials, StaticToken, TokenSource
from imaging_cloud.uploader.errors import UploadAborted
from imaging_cloud.uploader.local_deidentification import LocalDeidentification, LocalOptions, read_uid_key
from imaging_cloud.uploader.progress import RichProgress
from imaging_cloud.uploader.report_upload import LocalPatient, ReportNotSent, ReportRequest, upload_report
from imaging_cloud.uploader.retry import RetryPolicy
from imaging_cloud.uploader.summary import render_summary
from imaging_cloud.uploader.upload import UploadOptions, service_base_url, upload
from imaging_cloud.uploader.xref_import import XREF_COLUMNS, import_xrefs

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Something the operator fixes by changing the command line or the environment (exit 2)."""


class CommandFailed(Exception):
    """The command ran and the service refused it (exit 1); the message names the rule and its code."""


# -- server side ------------------------------------------------------------------------------------------------


def load_settings() -> Settings:
    """Settings from the environment; a refused configuration is a usage error, not a traceback."""
    try:
        return Settings()
    except ValidationError as exc:
        messages = "; ".join(str(error.get("msg", "")) for error in exc.errors())
        raise UsageError(f"invalid configuration: {messages}") from None


def migrate(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(settings.effective_database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def _run_server(host: str, port: int, workers: int) -> int:
    """uvicorn in factory mode: every worker process calls ``create_app()``, which reads ``Settings()``."""
    uvicorn.run("imaging_cloud.app:create_app", factory=True, host=host, port=port, workers=workers)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    migrate(load_settings())
    return _run_server(args.host, args.port, args.workers)


def cmd_migrate(_args: argparse.Namespace) -> int:
    migrate(load_settings())
    print("the database is at the latest schema revision")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    settings = load_settings()
    errors = Console(stderr=True)
    try:
        result = seed_demo(settings, progress=RichProgress(errors) if errors.is_terminal else None)
    except DemoRefused as exc:
        raise UsageError(str(exc)) from None
    except DemoFailed as exc:
        errors.print(f"[red]demo failed:[/red] {exc}", highlight=False)
        return EXIT_FAILED
    render_demo(result, Console(), f"http://{args.host}:{args.port}")
    if args.serve:
        return _run_server(args.host, args.port, args.workers)
    return EXIT_OK


@contextmanager
def _bootstrap_session() -> Iterator[Session]:
    """A session on the migrated database that commits when the block succeeds (admin bootstrap, no HTTP)."""
    settings = load_settings()
    migrate(settings)
    engine = create_db_engine(settings.effective_database_url)
    try:
        with Session(engine) as session, session.begin():
            yield session
    except ApiError as exc:
        raise CommandFailed(f"{exc.message} ({exc.code})") from None
    finally:
        engine.dispose()


def cmd_create_institution(args: argparse.Namespace) -> int:
    with _bootstrap_session() as session:
        institution = create_institution(session, args.code, args.name)
        print(f"institution {institution.code} created (id {institution.id})")
    return EXIT_OK


def cmd_create_account(args: argparse.Namespace) -> int:
    if args.secret_stdin:
        secret, generated = sys.stdin.readline().rstrip("\r\n"), False
    else:
        secret, generated = secrets.token_urlsafe(18), True
    if len(secret) < 12:
        raise UsageError("the secret must be at least 12 characters")
    with _bootstrap_session() as session:
        account = create_account(
            session,
            args.username,
            secret,
            Role(args.role),
            args.institution,
            args.display_name,
            practitioner_id=args.practitioner_id,
        )
        print(f"account {account.username} created (id {account.id}, role {account.role})")
    if generated:
        print(f"secret (shown once, store it now): {secret}")
    return EXIT_OK


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        rotation = rotate_signing_key(settings, keep=args.keep)
    except FileNotFoundError:
        raise UsageError(f"no signing key at {settings.effective_jwt_signing_key_path} to rotate") from None
    except OSError as exc:  # a read-only secret mount: rotate where the key is written, then redeploy it
        raise UsageError(f"cannot replace the signing key: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(f"new signing key {rotation.new_kid}; {rotation.retired_kid} retired (still verifies)")
    for kid in rotation.dropped_kids:
        print(f"dropped {kid}: its tokens and checkpoints no longer verify")
    print("restart the service workers to sign with the new key")
    return EXIT_OK


def cmd_fsck(args: argparse.Namespace) -> int:
    settings = load_settings()
    migrate(settings)
    runtime = Runtime.build(settings)
    try:
        report = run_fsck(runtime, repair=args.repair)
    finally:
        runtime.engine.dispose()
    print(json.dumps(report.to_dict(), indent=2))
    return EXIT_OK if report.clean else EXIT_FAILED


def cmd_audit_verify(_args: argparse.Namespace) -> int:
    settings = load_settings()
    migrate(settings)
    runtime = Runtime.build(settings)
    try:
        report = verify_trail(runtime)
    finally:
        runtime.engine.dispose()
    print(json.dumps(report.to_dict(), indent=2))
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_audit_checkpoint(_args: argparse.Namespace) -> int:
    settings = load_settings()
    migrate(settings)
    runtime = Runtime.build(settings)
    try:
        checkpoint = checkpoint_trail(runtime)
    finally:
        runtime.engine.dispose()
    print(f"checkpoint signed at seq {checkpoint.seq} (hash {checkpoint.hash}, key {checkpoint.key_id})")
    return EXIT_OK


def _dimse_tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    if args.tls_cert is None and args.tls_key is None:
        if args.tls_ca is not None:
            raise UsageError("--tls-ca needs --tls-cert and --tls-key")
        return None
    if args.tls_cert is None or args.tls_key is None:
        raise UsageError("give both --tls-cert and --tls-key")
    try:
        return server_ssl_context(args.tls_cert, args.tls_key, args.tls_ca)
    except OSError as exc:  # missing file, unreadable PEM, key not matching the certificate
        raise UsageError(f"cannot load the TLS certificate, key or CA: {exc.strerror or exc}") from None


def cmd_dimse(args: argparse.Namespace) -> int:
    """The C-STORE/C-ECHO SCP in the foreground until SIGINT or SIGTERM; logs go to stderr."""
    if args.max_associations < 1:
        raise UsageError("--max-associations must be at least 1")
    settings = load_settings()
    options = DimseOptions(
        host=args.host,
        port=args.port,
        ae_title=args.ae_title,
        ssl_context=_dimse_tls(args),
        max_associations=args.max_associations,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)  # per-message chatter; ours logs per association
    migrate(settings)
    runtime = Runtime.build(settings)
    try:
        try:
            scp = StorageScp(runtime, options)
        except ValueError as exc:
            raise UsageError(f"invalid AE title: {exc}") from None
        try:
            serve_until_signalled(scp)
        except OSError as exc:
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    finally:
        runtime.engine.dispose()
    return EXIT_OK


def cmd_dimse_peer_add(args: argparse.Namespace) -> int:
    with _bootstrap_session() as session:
        peer = add_peer(session, args.ae_title, args.institution, args.address)
        where = f"from {peer.allowed_address}" if peer.allowed_address else "from any address"
        print(f"DIMSE peer {peer.ae_title} added: stores for institution {args.institution}, {where}")
    return EXIT_OK


# -- client side ------------------------------------------------------------------------------------------------


def _service_url(url: str) -> str:
    try:
        return service_base_url(url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _http_client(args: argparse.Namespace, parallel: int = 1) -> httpx.Client:
    verify: ssl.SSLContext | bool = True
    if args.ca_file is not None:
        verify = ssl.create_default_context(cafile=str(args.ca_file))
    return httpx.Client(
        verify=verify,
        timeout=httpx.Timeout(30.0, read=600.0, write=600.0),
        limits=httpx.Limits(max_connections=parallel + 2, max_keepalive_connections=parallel + 2),
    )


def _tokens(args: argparse.Namespace, client: httpx.Client, service_url: str) -> TokenSource:
    if args.token:
        if args.client_id or args.client_secret:
            raise UsageError("give either --token or --client-id/--client-secret, not both")
        return StaticToken(args.token)
    if args.client_id and args.client_secret:
        return ClientCredentials(client, service_url, args.client_id, args.client_secret)
    raise UsageError(
        "give --token, or --client-id and --client-secret (or set IMAGING_CLOUD_TOKEN, or "
        "IMAGING_CLOUD_CLIENT_ID and IMAGING_CLOUD_CLIENT_SECRET)"
    )


def _local_options(args: argparse.Namespace) -> LocalOptions | None:
    """``--deidentify-locally`` and its key and profile; None in the plain mode."""
    if not args.deidentify_locally:
        if args.uid_key_file is not None:
            raise UsageError("--uid-key-file is used only with --deidentify-locally")
        return None
    if args.uid_key_file is None:
        raise UsageError("--deidentify-locally needs --uid-key-file (the hospital's UID key)")
    try:
        return LocalOptions(
            uid_key=read_uid_key(args.uid_key_file),
            profile=deidentify.get_profile(args.profile),
            manifest_path=args.manifest,
        )
    except OSError as exc:
        raise UsageError(f"cannot read the UID key file: {exc.strerror or exc}") from None
    except (KeyError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def cmd_upload(args: argparse.Namespace) -> int:
    if min(args.batch_size, args.batch_mb, args.parallel, args.retries) < 1:
        raise UsageError("--batch-size, --batch-mb, --parallel and --retries must be at least 1")
    service_url = _service_url(args.url)
    errors = Console(stderr=True)
    options = UploadOptions(
        batch_files=args.batch_size,
        batch_bytes=args.batch_mb * 1024 * 1024,
        parallel=args.parallel,
        retry=RetryPolicy(attempts=args.retries),
        resume=args.resume,
        state_path=args.state_file,
    )
    progress = RichProgress(errors) if args.progress and errors.is_terminal else None
    local_options = _local_options(args)
    with _http_client(args, args.parallel) as client:
        tokens = _tokens(args, client, service_url)
        local = None
        if local_options is not None:
            local = LocalDeidentification(
                local_options, client=client, service_url=service_url, tokens=tokens, retry=options.retry
            )
        try:
            summary = upload(
                args.path,
                service_url=service_url,
                tokens=tokens,
                client=client,
                options=options,
                progress=progress,
                local=local,
            )
        except (FileNotFoundError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        except UploadAborted as exc:
            errors.print(f"[red]upload aborted:[/red] {exc}", highlight=False)
            return EXIT_USAGE
    render_summary(summary, Console(), show_failed_files=args.show_failed)
    return summary.exit_code


def _local_patient(args: argparse.Namespace) -> LocalPatient | None:
    """``upload-report --deidentify-locally``: who the report is about, as the hospital knows them."""
    if not args.deidentify_locally:
        if args.known_identifiers is not None:
            raise UsageError("--known-identifiers is used only with --deidentify-locally")
        return None
    if not args.patient_id or args.known_identifiers is None:
        raise UsageError("--deidentify-locally needs --patient-id and --known-identifiers (the patient's identifiers)")
    try:
        known = deidentify.cli.load_known(args.known_identifiers)
    except deidentify.cli.UsageError as exc:
        raise UsageError(str(exc)) from None
    return LocalPatient(patient_id=args.patient_id, issuer=args.issuer, known=known)


def cmd_upload_report(args: argparse.Namespace) -> int:
    service_url = _service_url(args.url)
    if not args.file.is_file():
        raise UsageError(f"no such file: {args.file}")
    patient = _local_patient(args)
    local_options = _local_options(args)
    request = ReportRequest(
        path=args.file,
        study_uid=args.study_uid,
        report_id=args.report_id,
        title=args.title,
        status=args.status,
        charset=args.charset,
    )
    retry = RetryPolicy(attempts=max(1, args.retries))
    with _http_client(args) as client:
        tokens = _tokens(args, client, service_url)
        local = None
        if local_options is not None:
            local = LocalDeidentification(
                local_options, client=client, service_url=service_url, tokens=tokens, retry=retry
            )
        try:
            result = upload_report(
                request,
                service_url=service_url,
                tokens=tokens,
                client=client,
                retry=retry,
                local=local,
                patient=patient,
            )
        except ReportNotSent as exc:
            print(f"report not sent: {exc} ({exc.code})", file=sys.stderr)
            return EXIT_FAILED
        except UploadAborted as exc:
            print(f"upload aborted: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if not result.stored:
        print(f"report refused: HTTP {result.status} ({result.code})", file=sys.stderr)
        return EXIT_FAILED
    verb = "stored" if result.status == 201 else "already stored"
    print(f"report {result.report_uid} {verb} on study {result.study_uid}")
    return EXIT_OK


def _rows(lines: Sequence[int]) -> str:
    return f"  (rows {', '.join(str(n) for n in lines)})" if lines else ""


def cmd_xref_import(args: argparse.Namespace) -> int:
    service_url = _service_url(args.url)
    if not args.file.is_file():
        raise UsageError(f"no such file: {args.file}")
    with _http_client(args) as client:
        tokens = _tokens(args, client, service_url)
        try:
            summary = import_xrefs(
                args.file, service_url=service_url, tokens=tokens, client=client, encoding=args.encoding
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise UsageError(str(exc)) from None
        except UploadAborted as exc:
            print(f"import aborted: {exc}", file=sys.stderr)
            return EXIT_USAGE
    print(f"created:   {len(summary.created)}")
    print(f"existing:  {len(summary.existing)}")
    print(f"conflicts: {len(summary.conflicts)}{_rows(summary.conflicts)}")
    print(f"invalid:   {len(summary.invalid)}")
    for line, reason in summary.invalid:
        print(f"  row {line}: {reason}")
    return summary.exit_code


# -- parser -----------------------------------------------------------------------------------------------------


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default=os.environ.get("IMAGING_CLOUD_HOST", "127.0.0.1"),
        help="address to listen on (default: 127.0.0.1, or IMAGING_CLOUD_HOST)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("IMAGING_CLOUD_PORT", "8000")),
        help="port to listen on (default: 8000, or IMAGING_CLOUD_PORT)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")


def _client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="the service's base URL, e.g. https://cloud.example.org")
    parser.add_argument(
        "--token",
        default=os.environ.get("IMAGING_CLOUD_TOKEN"),
        help="a hospital bearer token (or IMAGING_CLOUD_TOKEN)",
    )
    parser.add_argument(
        "--client-id",
        default=os.environ.get("IMAGING_CLOUD_CLIENT_ID"),
        help="hospital client id for POST /auth/token (or IMAGING_CLOUD_CLIENT_ID)",
    )
    parser.add_argument(
        "--client-secret",
        default=os.environ.get("IMAGING_CLOUD_CLIENT_SECRET"),
        help="hospital client secret (prefer IMAGING_CLOUD_CLIENT_SECRET: argv is visible to ps)",
    )
    parser.add_argument("--ca-file", type=Path, default=None, help="PEM bundle of CAs to trust for HTTPS")


Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imaging-cloud", description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="migrate the database, then serve the API with uvicorn")
    _server_options(serve)
    serve.set_defaults(handler=cmd_serve)

    migrate_cmd = commands.add_parser("migrate", help="bring the database to the latest schema (Alembic)")
    migrate_cmd.set_defaults(handler=cmd_migrate)

    demo = commands.add_parser("demo", help="seed demo institutions, accounts, synthetic patients and studies")
    demo.add_argument("--serve", action="store_true", help="serve the API when seeding is done")
    _server_options(demo)
    demo.set_defaults(handler=cmd_demo)

    upload_cmd = commands.add_parser("upload", help="upload a folder, file or DICOMDIR over STOW-RS")
    upload_cmd.add_argument("path", type=Path, help="a folder (walked recursively), a DICOM file or a DICOMDIR")
    _client_options(upload_cmd)
    upload_cmd.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_FILES,
        help=f"files per STOW request (default: {DEFAULT_BATCH_FILES})",
    )
    upload_cmd.add_argument(
        "--batch-mb",
        type=int,
        default=DEFAULT_BATCH_BYTES // (1024 * 1024),
        help=f"MiB per STOW request (default: {DEFAULT_BATCH_BYTES // (1024 * 1024)})",
    )
    upload_cmd.add_argument("--parallel", type=int, default=4, help="requests in flight (default: 4)")
    upload_cmd.add_argument(
        "--retries",
        type=int,
        default=RetryPolicy().attempts,
        help=f"tries per request on transient failures (default: {RetryPolicy().attempts})",
    )
    upload_cmd.add_argument(
        "--resume",
        action="store_true",
        help="skip files this machine already stored on this service (local state file)",
    )
    upload_cmd.add_argument(
        "--state-file",
        type=Path,
        default=None,
        help="resume state file (default: ~/.local/state/imaging-cloud/upload-state.jsonl)",
    )
    upload_cmd.add_argument(
        "--show-failed",
        action="store_true",
        help="list failed files by path (paths may name patients: mind who sees the output)",
    )
    upload_cmd.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    upload_cmd.add_argument(
        "--deidentify-locally",
        action="store_true",
        help="de-identify on this machine first: no identifier of a patient leaves it (needs --uid-key-file)",
    )
    upload_cmd.add_argument(
        "--uid-key-file", type=Path, default=None, help="the hospital-held UID key (at least 32 bytes; keep it)"
    )
    upload_cmd.add_argument(
        "--profile",
        choices=sorted(deidentify.PROFILES),
        default=deidentify.CLINICAL_SHARING.name,
        help=f"de-identification profile for --deidentify-locally (default: {deidentify.CLINICAL_SHARING.name})",
    )
    upload_cmd.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="PHI-free JSON-lines record of what was sent (default: ~/.local/state/imaging-cloud/)",
    )
    upload_cmd.set_defaults(handler=cmd_upload)

    report = commands.add_parser(
        "upload-report",
        help="upload a diagnostic report (text, PDF or DICOM) for a study",
        description="Plain mode sends the report as is (the cloud scrubs it). With --deidentify-locally the "
        "report is scrubbed here with the patient's identifiers, the study UID keyed with the hospital's UID "
        "key, the report id hashed, and the patient named by a link token: nothing identifying is sent.",
    )
    report.add_argument("file", type=Path, help="the report: PDF, text (see --charset) or DICOM SR/Encapsulated PDF")
    _client_options(report)
    report.add_argument("--study-uid", required=True, help="the hospital's StudyInstanceUID of the report's study")
    report.add_argument("--report-id", required=True, help="the hospital's report id (1-64 characters)")
    report.add_argument("--title", default="", help="report title (scrubbed; dropped in local mode if not clean)")
    report.add_argument("--status", default="final", choices=["preliminary", "final", "amended"])
    report.add_argument("--charset", default="utf-8", help="charset of a text report: utf-8 (default) or gb18030")
    report.add_argument("--patient-id", default=None, help="the local patient id (local mode; never sent)")
    report.add_argument("--issuer", default="", help="IssuerOfPatientID of --patient-id (local mode)")
    report.add_argument("--retries", type=int, default=RetryPolicy().attempts, help="tries on transient failures")
    report.add_argument(
        "--deidentify-locally",
        action="store_true",
        help="scrub here: needs --uid-key-file, --patient-id and --known-identifiers; only text and PDF",
    )
    report.add_argument("--uid-key-file", type=Path, default=None, help="the hospital-held UID key (as for upload)")
    report.add_argument(
        "--known-identifiers",
        type=Path,
        default=None,
        help="JSON of the patient's identifiers (names, ids, phones, addresses), as for deidentify report",
    )
    report.add_argument(
        "--manifest", type=Path, default=None, help="PHI-free JSON-lines record (default: as for upload)"
    )
    report.set_defaults(handler=cmd_upload_report, profile=deidentify.CLINICAL_SHARING.name)

    xref = commands.add_parser("xref", help="patient cross-reference feed")
    xref_commands = xref.add_subparsers(dest="xref_command", required=True, metavar="COMMAND")
    xref_import = xref_commands.add_parser(
        "import",
        help="register patient cross-references from a CSV file",
        description=f"CSV columns: {', '.join(XREF_COLUMNS)} (patient_id and national_id required).",
    )
    xref_import.add_argument("file", type=Path, help="CSV file with a header row")
    _client_options(xref_import)
    xref_import.add_argument("--encoding", default="utf-8-sig", help="file encoding (default: utf-8-sig; gb18030 ok)")
    xref_import.set_defaults(handler=cmd_xref_import)

    institution = commands.add_parser("create-institution", help="register an institution (admin bootstrap)")
    institution.add_argument("code", help="short code, e.g. SXPH ([A-Za-z0-9_-], 2-64 characters)")
    institution.add_argument("name", help="display name, e.g. 山西省人民医院")
    institution.set_defaults(handler=cmd_create_institution)

    account = commands.add_parser("create-account", help="create an account (admin bootstrap, no HTTP)")
    account.add_argument("username")
    account.add_argument("--role", required=True, choices=[r.value for r in Role])
    account.add_argument("--institution", default=None, help="institution code (hospital, doctor, service-desk)")
    account.add_argument("--display-name", default="")
    account.add_argument("--practitioner-id", default=None, help="a doctor's practitioner number")
    account.add_argument(
        "--secret-stdin",
        action="store_true",
        help="read the secret from the first line of stdin (default: generate and print one)",
    )
    account.set_defaults(handler=cmd_create_account)

    audit = commands.add_parser("audit", help="verify the audit trail's hash chain, sign checkpoints")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    audit_verify = audit_commands.add_parser(
        "verify", help="recompute the chain and check every signed checkpoint (exit 1 names the first break)"
    )
    audit_verify.set_defaults(handler=cmd_audit_verify)
    audit_checkpoint = audit_commands.add_parser("checkpoint", help="sign the chain head (run it periodically)")
    audit_checkpoint.set_defaults(handler=cmd_audit_checkpoint)

    keys = commands.add_parser("keys", help="token signing keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    keys_rotate = keys_commands.add_parser(
        "rotate", help="retire the signing key (it keeps verifying) and generate a new one; restart workers after"
    )
    keys_rotate.add_argument(
        "--keep", type=int, default=None, help="retired keys to keep accepting, newest first (default: all)"
    )
    keys_rotate.set_defaults(handler=cmd_keys_rotate)

    fsck = commands.add_parser("fsck", help="check that the object store and the index agree")
    fsck.add_argument("--repair", action="store_true", help="delete orphan objects and rows without objects")
    fsck.set_defaults(handler=cmd_fsck)

    dimse = commands.add_parser("dimse", help="run the DIMSE C-STORE/C-ECHO SCP (PACS push) until SIGINT/SIGTERM")
    dimse.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    dimse.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    dimse.add_argument("--ae-title", default=DEFAULT_AE_TITLE, help=f"our AE title (default: {DEFAULT_AE_TITLE})")
    dimse.add_argument("--tls-cert", type=Path, default=None, help="PEM server certificate (chain): enables TLS")
    dimse.add_argument("--tls-key", type=Path, default=None, help="PEM private key of --tls-cert")
    dimse.add_argument("--tls-ca", type=Path, default=None, help="PEM CA bundle: require client certificates from it")
    dimse.add_argument("--max-associations", type=int, default=10, help="concurrent associations (default: 10)")
    dimse.set_defaults(handler=cmd_dimse)

    dimse_peer = commands.add_parser("dimse-peer", help="calling AE titles allowed to store (admin bootstrap)")
    dimse_peer_commands = dimse_peer.add_subparsers(dest="dimse_peer_command", required=True, metavar="COMMAND")
    dimse_peer_add = dimse_peer_commands.add_parser("add", help="let a calling AE title store for an institution")
    dimse_peer_add.add_argument("ae_title", metavar="AE", help="the PACS's calling AE title (1-16 characters)")
    dimse_peer_add.add_argument("--institution", required=True, help="institution code, e.g. SXPH")
    dimse_peer_add.add_argument("--address", default=None, help="accept it only from this IP address or CIDR network")
    dimse_peer_add.set_defaults(handler=cmd_dimse_peer_add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        print(f"imaging-cloud: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CommandFailed as exc:
        print(f"imaging-cloud: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
