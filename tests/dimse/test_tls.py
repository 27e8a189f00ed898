"""DIMSE over TLS: server authentication, optional client certificates, and no head-of-line blocking on handshakes."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from imaging_cloud.dimse.server import DimseOptions, StorageScp
from imaging_cloud.dimse.tls import server_ssl_context
from imaging_cloud.runtime import Runtime
from tests.dimse.certificates import PemPair, self_signed
from tests.dimse.conftest import associate, protocol_only

pytestmark = protocol_only


@pytest.fixture
def server_pem(tmp_path: Path) -> PemPair:
    return self_signed(tmp_path, "scp")


@pytest.fixture
def client_pem(tmp_path: Path) -> PemPair:
    return self_signed(tmp_path, "pacs")


def _client_context(server: PemPair, client: PemPair | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=server.cert)
    if client is not None:
        context.load_cert_chain(client.cert, client.key)
    return context


def _tls_scp(runtime: Runtime, context: ssl.SSLContext) -> StorageScp:
    return StorageScp(runtime, DimseOptions(port=0, ssl_context=context))


@pytest.fixture
def tls_scp(runtime: Runtime, pacs_peer: str, server_pem: PemPair) -> Iterator[StorageScp]:
    with _tls_scp(runtime, server_ssl_context(server_pem.cert, server_pem.key)) as scp:
        yield scp


def test_echo_over_tls_succeeds(tls_scp: StorageScp, server_pem: PemPair) -> None:
    association = associate(tls_scp, tls=_client_context(server_pem))
    assert association.is_established
    assert association.send_c_echo().Status == 0x0000
    association.release()


def test_plain_tcp_client_cannot_associate_with_a_tls_port(tls_scp: StorageScp) -> None:
    association = associate(tls_scp)
    assert not association.is_established


def test_silent_client_does_not_hold_up_other_tls_associations(tls_scp: StorageScp, server_pem: PemPair) -> None:
    with socket.create_connection(tls_scp.address) as _silent:  # connects, never says hello
        association = associate(tls_scp, tls=_client_context(server_pem))
        assert association.is_established
        association.release()


def test_client_certificate_is_required_when_a_client_ca_is_configured(
    runtime: Runtime, pacs_peer: str, server_pem: PemPair, client_pem: PemPair
) -> None:
    context = server_ssl_context(server_pem.cert, server_pem.key, client_ca=client_pem.cert)
    with _tls_scp(runtime, context) as scp:
        assert not associate(scp, tls=_client_context(server_pem)).is_established
        association = associate(scp, tls=_client_context(server_pem, client_pem))
        assert association.is_established
        assert association.send_c_echo().Status == 0x0000
        association.release()
