"""DIMSE fixtures: a running SCP on a free loopback port, a registered peer, and a pynetdicom SCU that talks to it."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator, Sequence

import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.events import Event

from imaging_cloud.dimse.peers import add_peer
from imaging_cloud.dimse.server import DimseOptions, StorageScp
from imaging_cloud.runtime import Runtime
from tests.conftest import Hospital

PEER_AE = "PACS1"
VERIFICATION = "1.2.840.10008.1.1"

#: For protocol behaviour that does not depend on the database backend: run it on SQLite only (saves a PostgreSQL
#: database per test); everything that stores, looks up or refuses data runs on every backend.
protocol_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def pacs_peer(runtime: Runtime, hospital_a: Hospital) -> str:
    """``PACS1`` stores for hospital A, from any address."""
    with runtime.units() as uow:
        add_peer(uow.session, PEER_AE, hospital_a.code)
    return PEER_AE


@pytest.fixture
def scp(runtime: Runtime, pacs_peer: str) -> Iterator[StorageScp]:
    server = StorageScp(runtime, DimseOptions(host="127.0.0.1", port=0))
    with server:
        yield server


def _no_delay(event: Event) -> None:
    event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]


def associate(
    scp: StorageScp,
    *,
    calling: str = PEER_AE,
    called: str | None = None,
    contexts: Sequence[tuple[str, Sequence[str]]] = ((VERIFICATION, (ImplicitVRLittleEndian,)),),
    tls: ssl.SSLContext | None = None,
) -> Association:
    """An association from a pynetdicom SCU (TCP_NODELAY on its side too); the caller releases it."""
    ae = AE(ae_title=calling)
    ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = 5  # a regression fails fast instead of hanging
    for abstract, syntaxes in contexts:
        ae.add_requested_context(abstract, list(syntaxes))
    host, port = scp.address
    return ae.associate(
        host,
        port,
        ae_title=called or scp.ae_title,
        tls_args=(tls, "localhost") if tls else None,
        evt_handlers=[(evt.EVT_CONN_OPEN, _no_delay)],
    )


def storage_context(sop_class: str) -> tuple[str, Sequence[str]]:
    return (sop_class, (ExplicitVRLittleEndian, ImplicitVRLittleEndian))
