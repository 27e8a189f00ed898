"""Which calling AE titles may store, for which institution, and from where.

Looked up per association (never cached), so a peer added or removed while the SCP runs takes effect with the next
association. ``allowed_address`` holds one IP address or a network in CIDR form.
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.orm import Session

from imaging_cloud.dimse.models import DimsePeer
from imaging_cloud.errors import Conflict, Unprocessable
from imaging_cloud.identity.models import Institution

AE_TITLE_MAX_LENGTH = 16

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def normalize_ae_title(value: str) -> str:
    """An AE title as DICOM compares it: leading/trailing spaces are not significant; 1-16 printable ASCII."""
    title = value.strip(" ")
    if not 1 <= len(title) <= AE_TITLE_MAX_LENGTH:
        raise Unprocessable("an AE title has 1 to 16 characters", code="invalid-ae-title")
    if not title.isascii() or not title.isprintable() or "\\" in title:
        raise Unprocessable("an AE title is printable ASCII without backslashes", code="invalid-ae-title")
    return title


def _network(value: str) -> IpNetwork:
    return ipaddress.ip_network(value.strip(), strict=False)


def _address(value: str) -> IpAddress | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def add_peer(session: Session, ae_title: str, institution_code: str, allowed_address: str | None = None) -> DimsePeer:
    """Map a calling AE title to an institution (admin bootstrap); one institution may have several AE titles."""
    title = normalize_ae_title(ae_title)
    institution_id = session.scalar(select(Institution.id).where(Institution.code == institution_code))
    if institution_id is None:
        raise Unprocessable("unknown institution", code="unknown-institution")
    address: str | None = None
    if allowed_address is not None:
        try:
            address = str(_network(allowed_address))
        except ValueError:
            raise Unprocessable("allowed address is not an IP address or network", code="invalid-address") from None
    if session.scalar(select(DimsePeer.id).where(DimsePeer.ae_title == title)) is not None:
        raise Conflict("this AE title is already registered", code="ae-title-exists")
    peer = DimsePeer(ae_title=title, institution_id=institution_id, allowed_address=address)
    session.add(peer)
    session.flush()
    return peer


def admitted_institution(session: Session, calling_ae_title: str, address: str) -> int | None:
    """The institution a calling AE title stores for, or None when the title is unknown or calls from elsewhere."""
    title = calling_ae_title.strip(" ")
    peer = session.scalar(select(DimsePeer).where(DimsePeer.ae_title == title))
    if peer is None:
        return None
    if peer.allowed_address is None:
        return peer.institution_id
    remote = _address(address)
    try:
        allowed = _network(peer.allowed_address)
    except ValueError:  # a row written around add_peer: refuse rather than guess
        return None
    if remote is None or remote.version != allowed.version or remote not in allowed:
        return None
    return peer.institution_id
