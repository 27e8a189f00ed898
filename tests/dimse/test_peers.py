"""Peer registration and admission: AE titles as DICOM compares them, institutions, and source addresses."""

from __future__ import annotations

import pytest

from imaging_cloud.dimse.peers import add_peer, admitted_institution, normalize_ae_title
from imaging_cloud.errors import Conflict, Unprocessable
from imaging_cloud.runtime import Runtime
from tests.conftest import Hospital


def _add(runtime: Runtime, ae_title: str, institution: str, address: str | None = None) -> None:
    with runtime.units() as uow:
        add_peer(uow.session, ae_title, institution, address)


def _admitted(runtime: Runtime, ae_title: str, address: str) -> int | None:
    with runtime.units.read_only() as session:
        return admitted_institution(session, ae_title, address)


def test_registered_ae_title_is_admitted_for_its_institution(runtime: Runtime, hospital_a: Hospital) -> None:
    _add(runtime, " PACS1 ", hospital_a.code)
    assert _admitted(runtime, "PACS1", "192.0.2.7") == hospital_a.institution_id
    assert _admitted(runtime, "PACS1   ", "192.0.2.7") == hospital_a.institution_id


def test_unknown_ae_title_is_not_admitted(runtime: Runtime, hospital_a: Hospital) -> None:
    _add(runtime, "PACS1", hospital_a.code)
    assert _admitted(runtime, "PACS2", "192.0.2.7") is None
    assert _admitted(runtime, "pacs1", "192.0.2.7") is None  # AE titles are case-sensitive


def test_pinned_address_admits_only_that_address(runtime: Runtime, hospital_a: Hospital) -> None:
    _add(runtime, "PINNED", hospital_a.code, "192.0.2.7")
    assert _admitted(runtime, "PINNED", "192.0.2.7") == hospital_a.institution_id
    assert _admitted(runtime, "PINNED", "::ffff:192.0.2.7") == hospital_a.institution_id
    assert _admitted(runtime, "PINNED", "192.0.2.8") is None
    assert _admitted(runtime, "PINNED", "not-an-address") is None


def test_network_in_cidr_form_admits_its_addresses(runtime: Runtime, hospital_a: Hospital) -> None:
    _add(runtime, "SUBNET", hospital_a.code, "10.1.0.0/16")
    assert _admitted(runtime, "SUBNET", "10.1.200.3") == hospital_a.institution_id
    assert _admitted(runtime, "SUBNET", "10.2.0.1") is None
    assert _admitted(runtime, "SUBNET", "2001:db8::1") is None


@pytest.mark.parametrize("title", ["", "   ", "SEVENTEEN-LETTERS", "BACK\\SLASH", "医院", "TAB\tTITLE"])
def test_invalid_ae_title_is_refused(title: str) -> None:
    with pytest.raises(Unprocessable) as refused:
        normalize_ae_title(title)
    assert refused.value.code == "invalid-ae-title"


def test_ae_title_loses_insignificant_spaces_only() -> None:
    assert normalize_ae_title("  PACS 1 ") == "PACS 1"


def test_unknown_institution_is_refused(runtime: Runtime) -> None:
    with pytest.raises(Unprocessable) as refused:
        _add(runtime, "PACS1", "NO-SUCH-HOSPITAL")
    assert refused.value.code == "unknown-institution"


def test_invalid_address_is_refused(runtime: Runtime, hospital_a: Hospital) -> None:
    with pytest.raises(Unprocessable) as refused:
        _add(runtime, "PACS1", hospital_a.code, "pacs.example.org")
    assert refused.value.code == "invalid-address"


def test_ae_title_belongs_to_one_institution(runtime: Runtime, hospital_a: Hospital, hospital_b: Hospital) -> None:
    _add(runtime, "PACS1", hospital_a.code)
    with pytest.raises(Conflict) as refused:
        _add(runtime, "PACS1", hospital_b.code)
    assert refused.value.code == "ae-title-exists"
    assert _admitted(runtime, "PACS1", "192.0.2.7") == hospital_a.institution_id
