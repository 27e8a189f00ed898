"""The DIMSE Storage SCP: C-ECHO, and C-STORE into the same ingest as STOW-RS.

Each association is admitted by looking its calling AE title up in ``dimse_peers`` (per association, so peers added
while the SCP runs are honoured at once); the peer's institution is the uploading institution of every instance
received on that association. Each received data set is written as Part 10 to a spooled temporary file without
being decoded and handed to ``Ingestor.ingest``; its ``Outcome`` becomes the C-STORE status.

Sockets get TCP_NODELAY (without it each small DIMSE message waits for a delayed ACK on loopback). With TLS the
handshake runs on the connection's own thread with a deadline, so a silent client cannot hold up accepting; without
TLS a connection that closes before its A-ASSOCIATE-RQ (a TCP health check) is dropped before pynetdicom sees it.
Logs carry association events and counts only, never anything from a data set. The audit trail records every
association (accepted when ``EVT_ACCEPTED`` fires, rejected with its reason), every C-ECHO and every C-STORE
(``imaging_cloud.dimse.audit``); an association whose event cannot be written is aborted, a C-ECHO or C-STORE
whose event cannot be written fails with a status the sender retries on.
"""

from __future__ import annotations

import logging
import select
import signal
import socket
import socketserver
import ssl
import tempfile
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from io import BytesIO
from types import FrameType, TracebackType
from typing import Any, BinaryIO, cast

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event
from pynetdicom.pdu_primitives import A_ASSOCIATE
from pynetdicom.transport import RequestHandler, ThreadedAssociationServer
from sqlalchemy.exc import SQLAlchemyError

from imaging_cloud.audit.recorder import AuditUnavailable
from imaging_cloud.dimse.audit import Caller, institution_code, record_association, record_echo, record_store
from imaging_cloud.dimse.contexts import supported_contexts
from imaging_cloud.dimse.part10 import RefusedDataSet, write_part10
from imaging_cloud.dimse.peers import admitted_institution
from imaging_cloud.dimse.status import SUCCESS, WARNING_DATASET_DOES_NOT_MATCH, failure_status, store_status
from imaging_cloud.errors import ServiceUnavailable
from imaging_cloud.ingest.outcome import Failed, FailureReason, Outcome, Stored
from imaging_cloud.runtime import Runtime
from imaging_cloud.storage.protocol import StorageUnavailable

logger = logging.getLogger(__name__)

DEFAULT_AE_TITLE = "IMAGINGCLOUD"
DEFAULT_PORT = 11112
#: A TLS client has this long to finish its handshake.
TLS_HANDSHAKE_SECONDS = 10.0
#: A connection has this long to start its A-ASSOCIATE-RQ (pynetdicom's ACSE timeout is the same).
ASSOCIATION_REQUEST_SECONDS = 30.0
#: Largest PDU we accept: fewer, larger reads per instance than pynetdicom's 16 KiB default.
MAX_PDU_BYTES = 256 * 1024
#: How long ``stop`` lets running associations finish before aborting them.
STOP_GRACE_SECONDS = 10.0

# A-ASSOCIATE-RJ (PS3.8 9.3.4): result, source, diagnostic.
_REJECTED_PERMANENT, _REJECTED_TRANSIENT = 0x01, 0x02
_SOURCE_SERVICE_USER = 0x01
_CALLING_AE_NOT_RECOGNIZED, _NO_REASON = 0x03, 0x01


@dataclass(frozen=True)
class DimseOptions:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    """0 picks a free port (tests); ``StorageScp.address`` tells which."""
    ae_title: str = DEFAULT_AE_TITLE
    ssl_context: ssl.SSLContext | None = None
    max_associations: int = 10


@dataclass
class _Peer:
    """What one admitted association stores for, and how it went (touched only by its association's thread)."""

    calling_ae_title: str
    address: str
    institution_id: int
    caller: Caller
    """How the audit trail names this association's events."""
    stored: int = 0
    failed: int = 0


class _AssociationServer(ThreadedAssociationServer):
    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stopping = threading.Event()

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        listener = cast(socket.socket, self.socket)
        connection, address = listener.accept()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            connection = self.ssl_context.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        return connection, address

    def shutdown(self) -> None:
        """Stop accepting and close the listening socket (this server is not in its AE's list of servers)."""
        self.stopping.set()
        socketserver.BaseServer.shutdown(self)
        self.server_close()


class _RequestHandler(RequestHandler):
    """Prepares a connection on its own thread before pynetdicom makes an association of it.

    With TLS, the handshake happens here (with a deadline). Without, the handler waits for the first byte of the
    A-ASSOCIATE-RQ: a connection closed before that (a load balancer's TCP health check, a port scan) is dropped
    here instead of becoming an association thread that counts against the association limit until the ACSE
    timeout.
    """

    server: _AssociationServer

    def handle(self) -> None:
        connection = self.request
        if isinstance(connection, ssl.SSLSocket):
            if not self._handshake(connection):
                return
        elif isinstance(connection, socket.socket) and not self._request_arrives(connection):
            return
        super().handle()

    def _handshake(self, connection: ssl.SSLSocket) -> bool:
        connection.settimeout(TLS_HANDSHAKE_SECONDS)
        try:
            connection.do_handshake()
        except OSError as exc:  # ssl.SSLError is an OSError
            logger.info("TLS handshake from %s failed (%s)", self.client_address[0], type(exc).__name__)
            return False
        connection.settimeout(None)
        return True

    def _request_arrives(self, connection: socket.socket) -> bool:
        deadline = time.monotonic() + ASSOCIATION_REQUEST_SECONDS
        try:
            while not self.server.stopping.is_set() and time.monotonic() < deadline:
                readable, _, _ = select.select([connection], [], [], 0.2)
                if readable:
                    return connection.recv(1, socket.MSG_PEEK) != b""
        except OSError:
            return False
        return False


class StorageScp:
    """A running (after ``start``) Storage + Verification SCP bound to one ``Runtime``."""

    def __init__(self, runtime: Runtime, options: DimseOptions | None = None) -> None:
        self._runtime = runtime
        self._options = options or DimseOptions()
        self._ae = AE(ae_title=self._options.ae_title)  # raises ValueError for an invalid AE title
        self._ae.require_called_aet = True
        self._ae.maximum_associations = self._options.max_associations
        self._ae.maximum_pdu_size = MAX_PDU_BYTES
        self._contexts = supported_contexts()
        self._peers: weakref.WeakKeyDictionary[Association, _Peer] = weakref.WeakKeyDictionary()
        self._peers_lock = threading.Lock()
        self._server: _AssociationServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def _tls(self) -> bool:
        return self._options.ssl_context is not None

    @property
    def ae_title(self) -> str:
        return self._ae.ae_title

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("the SCP is not running")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def active_associations(self) -> list[Association]:
        """The associations being served right now (their sockets, peers and state, for operators and tests)."""
        return [] if self._server is None else self._server.active_associations

    def start(self) -> None:
        """Bind and serve on a background thread; raises OSError when the address cannot be bound."""
        if self._server is not None:
            raise RuntimeError("the SCP is already running")
        made = self._ae.make_server(
            (self._options.host, self._options.port),
            contexts=self._contexts,
            ssl_context=self._options.ssl_context,
            evt_handlers=[
                (evt.EVT_REQUESTED, self._on_requested),
                (evt.EVT_ACCEPTED, self._on_accepted),
                (evt.EVT_REJECTED, self._on_rejected),
                (evt.EVT_C_ECHO, self._on_c_echo),
                (evt.EVT_C_STORE, self._on_c_store),
                (evt.EVT_CONN_CLOSE, self._on_closed),
            ],
            server_class=_AssociationServer,
            request_handler=_RequestHandler,
        )
        server = cast(_AssociationServer, made)
        _drop_message_logging(server)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="dimse-scp", daemon=True
        )
        self._thread.start()
        host, port = self.address
        logger.info(
            "DIMSE SCP %s listening on %s:%d (%s, %d storage SOP Classes)",
            self.ae_title,
            host,
            port,
            "TLS" if self._options.ssl_context else "no TLS",
            len(self._contexts) - 1,
        )

    def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Stop accepting, let running associations finish for ``grace_seconds``, then abort the rest."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        thread.join()
        deadline = time.monotonic() + grace_seconds
        while server.active_associations and time.monotonic() < deadline:
            time.sleep(0.05)
        remaining = server.active_associations
        for association in remaining:
            association.abort()
        for association in remaining:
            association.join(timeout=grace_seconds)
        self._server = self._thread = None
        logger.info("DIMSE SCP stopped (%d associations aborted)", len(remaining))

    def __enter__(self) -> StorageScp:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- association events --------------------------------------------------------------------------------------

    def _on_requested(self, event: Event) -> None:
        """Admit the calling AE title or reject the association before anything is negotiated."""
        association = event.assoc
        request = cast(A_ASSOCIATE, association.requestor.primitive)
        calling = str(request.calling_ae_title or "").strip()
        address = association.requestor.address
        try:
            with self._runtime.units.read_only() as session:
                institution_id = admitted_institution(session, calling, address)
                code: str | None = None
                if institution_id is not None:
                    code = institution_code(session, institution_id)
        except Exception as exc:  # database down or a fault of ours: refuse for now, the sender retries later
            logger.error("peer lookup failed (%s): association from %s refused for now", type(exc).__name__, address)
            self._reject(association, _REJECTED_TRANSIENT, _NO_REASON)
            return
        if institution_id is None:
            self._reject(association, _REJECTED_PERMANENT, _CALLING_AE_NOT_RECOGNIZED)
            return
        with self._peers_lock:
            self._peers[association] = _Peer(
                calling, address, institution_id, Caller(calling, address, uuid.uuid4().hex, code)
            )

    @staticmethod
    def _reject(association: Association, result: int, diagnostic: int) -> None:
        """What pynetdicom's own ACSE does on rejection: A-ASSOCIATE-RJ, the event, then end the association."""
        association.acse.send_reject(result, _SOURCE_SERVICE_USER, diagnostic)
        evt.trigger(association, evt.EVT_REJECTED, {})
        association.kill()

    def _on_accepted(self, event: Event) -> None:
        """Record the admitted association; one that cannot be recorded is aborted before anything is stored."""
        peer = self._peer(event.assoc)
        if peer is not None:
            try:
                record_association(self._runtime, peer.caller, called_ae_title=self.ae_title, tls=self._tls)
            except AuditUnavailable:
                logger.error("the audit event could not be written: association from %s aborted", peer.address)
                event.assoc.abort()
                return
            logger.info(
                "association from %s at %s accepted for institution %d",
                peer.calling_ae_title,
                peer.address,
                peer.institution_id,
            )

    def _on_rejected(self, event: Event) -> None:
        association = event.assoc
        with self._peers_lock:
            peer = self._peers.pop(association, None)
        request = cast(A_ASSOCIATE, association.requestor.primitive)
        response = cast(A_ASSOCIATE, association.acceptor.primitive)
        calling = str(request.calling_ae_title or "").strip()
        caller = peer.caller if peer is not None else Caller(calling, association.requestor.address, uuid.uuid4().hex)
        refusal = "-".join(response.reason_str.lower().replace(",", " ").split())
        try:
            record_association(
                self._runtime,
                caller,
                called_ae_title=str(request.called_ae_title or "").strip(),
                tls=self._tls,
                refusal=refusal,
            )
        except AuditUnavailable:  # nothing was admitted; the rejection stands
            logger.error("the audit event of a rejected association could not be written")
        logger.info(
            "association from %s at %s rejected: %s",
            str(request.calling_ae_title or "").strip(),
            association.requestor.address,
            response.reason_str.lower(),
        )

    def _on_closed(self, event: Event) -> None:
        with self._peers_lock:
            peer = self._peers.pop(event.assoc, None)
        if peer is not None:
            logger.info(
                "association from %s closed: %d stored, %d failed", peer.calling_ae_title, peer.stored, peer.failed
            )

    def _peer(self, association: Association) -> _Peer | None:
        with self._peers_lock:
            return self._peers.get(association)

    # -- C-ECHO and C-STORE --------------------------------------------------------------------------------------

    def _on_c_echo(self, event: Event) -> int:
        """Verification succeeds once it is recorded (Processing failure when it cannot be)."""
        peer = self._peer(event.assoc)
        if peer is None:
            return int(FailureReason.PROCESSING_FAILURE.status)
        try:
            record_echo(self._runtime, peer.caller)
        except AuditUnavailable:
            logger.error("C-ECHO from %s: the audit event could not be written", peer.calling_ae_title)
            return int(FailureReason.PROCESSING_FAILURE.status)
        return int(SUCCESS)

    def _on_c_store(self, event: Event) -> Dataset:
        """Ingest one instance; every fault becomes a status, nothing propagates into pynetdicom."""
        peer = self._peer(event.assoc)
        if peer is None:  # cannot happen for an admitted association; refuse rather than guess an institution
            return failure_status(FailureReason.PROCESSING_FAILURE, "the association has no institution")
        request = cast(C_STORE, event.request)
        affected = str(request.AffectedSOPClassUID or "")
        outcome: Outcome | None = None
        fault = "processed"
        try:
            status, outcome = self._ingest(event, request, peer.institution_id, affected)
        except (ServiceUnavailable, StorageUnavailable, SQLAlchemyError, OSError) as exc:
            logger.warning("C-STORE from %s: out of resources (%s)", peer.calling_ae_title, type(exc).__name__)
            status = failure_status(FailureReason.OUT_OF_RESOURCES, "storage or index unavailable; retry later")
            fault = FailureReason.OUT_OF_RESOURCES.slug
        except Exception as exc:  # never let one instance take the association down
            logger.error("C-STORE from %s: processing failure (%s)", peer.calling_ae_title, type(exc).__name__)
            status = failure_status(FailureReason.PROCESSING_FAILURE, "the instance could not be processed")
            fault = FailureReason.PROCESSING_FAILURE.slug
        try:
            record_store(self._runtime, peer.caller, outcome, int(status.Status), fault)
        except AuditUnavailable:  # stored but not recorded: the sender retries, and the retry is recorded
            logger.error("C-STORE from %s: the audit event could not be written", peer.calling_ae_title)
            status = failure_status(FailureReason.OUT_OF_RESOURCES, "the audit trail is unavailable; retry later")
        if status.Status in (SUCCESS, WARNING_DATASET_DOES_NOT_MATCH):
            peer.stored += 1
        else:
            peer.failed += 1
        return status

    def _ingest(
        self, event: Event, request: C_STORE, institution_id: int, affected_sop_class_uid: str
    ) -> tuple[Dataset, Outcome | None]:
        """The C-STORE status, and ingest's outcome (None when the data set was refused before ingest)."""
        data = request.DataSet
        if not isinstance(data, BytesIO) or data.getbuffer().nbytes == 0:
            reason = FailureReason.CANNOT_UNDERSTAND
            return failure_status(reason, "the C-STORE request carries no data set"), Failed(reason, "no data set")
        settings = self._runtime.settings
        with tempfile.SpooledTemporaryFile(max_size=settings.spool_memory_bytes, prefix="dimse-") as spool:
            try:
                write_part10(cast(BinaryIO, spool), event.file_meta, data.getbuffer(), settings.max_part_bytes)
            except RefusedDataSet as refused:
                logger.info("C-STORE refused: %s", refused.reason.slug)
                return failure_status(refused.reason, refused.detail), Failed(refused.reason, refused.detail)
            spool.seek(0)
            outcome = self._runtime.ingestor.ingest(cast(BinaryIO, spool), institution_id=institution_id)
        if not isinstance(outcome, Stored):
            logger.info("C-STORE refused: %s", outcome.reason.slug)
        return store_status(outcome, affected_sop_class_uid), outcome


def _drop_message_logging(server: ThreadedAssociationServer) -> None:
    """Unbind pynetdicom's per-message logging: it copies every data set and logs the sender's UIDs."""
    for event in (evt.EVT_DIMSE_RECV, evt.EVT_DIMSE_SENT, evt.EVT_PDU_RECV, evt.EVT_PDU_SENT):
        bound = server.get_handlers(event)  # notification events: a list of (handler, args)
        for handler, _args in list(bound) if isinstance(bound, list) else []:
            server.unbind(event, handler)


def serve_until_signalled(scp: StorageScp) -> None:
    """Run ``scp`` until SIGINT or SIGTERM, then stop it cleanly (main thread only)."""
    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %d received: stopping", signum)
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        scp.start()
        while not stopping.wait(0.5):
            pass
    finally:
        scp.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
