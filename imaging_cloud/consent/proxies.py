"""Family (亲情) proxy links: a person lets a family member act for them with chosen rights, until removed.

The family member is named by their own identifier (national ID or health card) and must already be known here;
the identifier is only hashed to find them and is never stored, echoed or recorded. Removal sets ``removed_at``;
the facts loader ignores removed links, so the proxy's next request is refused.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from auth.policy import ProxyRight
from imaging_cloud.access.facts import active_proxy_links, proxy_rights
from imaging_cloud.consent.actors import ActedBy, masked_name
from imaging_cloud.consent.models import ProxyLink
from imaging_cloud.errors import Conflict, NotFound, Unprocessable
from imaging_cloud.identity.models import Person
from imaging_cloud.keys import KeyRing


class Relationship(StrEnum):
    SPOUSE = "spouse"
    PARENT = "parent"
    CHILD = "child"
    SIBLING = "sibling"
    GUARDIAN = "guardian"
    OTHER_FAMILY = "other-family"


class IdentifierIn(BaseModel):
    """Exactly one identifier of a person: the national ID or the electronic health card number."""

    national_id: str | None = Field(default=None, min_length=15, max_length=18)
    health_card: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _exactly_one(self) -> IdentifierIn:
        if (self.national_id is None) == (self.health_card is None):
            raise ValueError("give exactly one of national_id and health_card")
        return self


class RightsIn(BaseModel):
    view: bool = True
    grant: bool = False
    issue_codes: bool = False


class ProxyIn(BaseModel):
    proxy: IdentifierIn
    relationship: Relationship
    rights: RightsIn = Field(default_factory=RightsIn)


class ProxyOut(BaseModel):
    id: int
    proxy_ref: str = Field(description="The family member's pseudonym")
    display_name: str = Field(description="The family member's name, masked")
    relationship: str
    rights: list[ProxyRight]
    active: bool
    created_at: dt.datetime
    removed_at: dt.datetime | None = None


class RepresentedOut(BaseModel):
    person_ref: str
    display_name: str = Field(description="The represented person's name, masked")
    relationship: str
    rights: list[ProxyRight]


def rights_of(body: RightsIn) -> frozenset[ProxyRight]:
    chosen = {ProxyRight.VIEW: body.view, ProxyRight.GRANT: body.grant, ProxyRight.ISSUE_CODES: body.issue_codes}
    rights = frozenset(right for right, granted in chosen.items() if granted)
    if not rights:
        raise Unprocessable("a proxy needs at least one right", code="no-rights")
    return rights


def add_link(
    session: Session,
    person: Person,
    proxy: Person,
    relationship: str,
    rights: frozenset[ProxyRight],
    acted: ActedBy,
    now: dt.datetime,
) -> ProxyLink:
    """Link ``proxy`` to act for ``person``; one active link per pair (409 ``proxy-exists``)."""
    if proxy.id == person.id:
        raise Unprocessable("a person does not act as their own proxy", code="proxy-is-self")
    existing = session.scalar(
        select(ProxyLink.id).where(
            ProxyLink.person_id == person.id, ProxyLink.proxy_person_id == proxy.id, ProxyLink.removed_at.is_(None)
        )
    )
    if existing is not None:
        raise Conflict("this family member is already a proxy; remove the link to change it", code="proxy-exists")
    link = ProxyLink(
        person_id=person.id,
        proxy_person_id=proxy.id,
        relationship=relationship,
        can_view=ProxyRight.VIEW in rights,
        can_grant=ProxyRight.GRANT in rights,
        can_issue_codes=ProxyRight.ISSUE_CODES in rights,
        created_at=now,
    )
    acted.stamp(link)
    session.add(link)
    session.flush()
    return link


def list_links(session: Session, keys: KeyRing, person_id: int) -> list[ProxyOut]:
    proxy = aliased(Person)
    rows = session.execute(
        select(ProxyLink, proxy)
        .join(proxy, proxy.id == ProxyLink.proxy_person_id)
        .where(ProxyLink.person_id == person_id)
        .order_by(ProxyLink.id.desc())
    ).all()
    return [
        ProxyOut(
            id=link.id,
            proxy_ref=member.pseudonym,
            display_name=masked_name(keys, member),
            relationship=link.relationship,
            rights=sorted(proxy_rights(link)),
            active=link.removed_at is None,
            created_at=link.created_at,
            removed_at=link.removed_at,
        )
        for link, member in rows
    ]


def link_of_person(session: Session, person_id: int, link_id: int) -> ProxyLink:
    link = session.scalar(select(ProxyLink).where(ProxyLink.id == link_id, ProxyLink.person_id == person_id))
    if link is None:
        raise NotFound("proxy link not found", code="proxy-not-found")
    return link


def remove_link(session: Session, link: ProxyLink, acted: ActedBy, now: dt.datetime) -> bool:
    """Remove now; ``False`` if it was already removed."""
    if link.removed_at is not None:
        return False
    link.removed_at = now
    link.removed_by_person_id = acted.person_id
    session.flush()
    return True


def represented_by(session: Session, keys: KeyRing, proxy_ref: str) -> list[RepresentedOut]:
    """The people ``proxy_ref`` may act for through an active link, with the rights each link gives."""
    links = list(active_proxy_links(session, proxy_ref))
    people = {
        p.id: p for p in session.scalars(select(Person).where(Person.id.in_(sorted({k.person_id for k, _ in links}))))
    }
    return [
        RepresentedOut(
            person_ref=pseudonym,
            display_name=masked_name(keys, people[link.person_id]),
            relationship=link.relationship,
            rights=sorted(proxy_rights(link)),
        )
        for link, pseudonym in links
    ]
