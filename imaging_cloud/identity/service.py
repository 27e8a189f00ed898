"""Registering and resolving people: the PIX-style feed and the ingest-time lookup of a DICOM PatientID."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from auth.national_id import birth_date, is_valid_national_id, normalize_national_id
from deidentify import KnownIdentifiers, make_pseudonym
from imaging_cloud.errors import Conflict, Unprocessable
from imaging_cloud.identity.link_handles import link_handle
from imaging_cloud.identity.models import HealthCard, Institution, PatientXref, Person
from imaging_cloud.keys import KeyRing

NATIONAL_ID = "national-id"
HEALTH_CARD = "health-card"
LOCAL_ID = "local-patient-id"
LINK_KEY = "link-key"


@dataclass(frozen=True)
class XrefRegistration:
    patient_id: str
    issuer: str
    national_id: str
    health_card: str | None = None
    name: str | None = None
    sex: str | None = None


def _get_or_create_person(session: Session, keys: KeyRing, national_id: str) -> tuple[Person, bool]:
    lookup = keys.lookup_hash(NATIONAL_ID, national_id)
    person = session.scalar(select(Person).where(Person.national_id_hash == lookup))
    if person is not None:
        return person, False
    person = Person(
        national_id_hash=lookup,
        national_id_encrypted=keys.encrypt(national_id),
        pseudonym=make_pseudonym(lookup, keys.pseudonym_key),
        birth_date=birth_date(national_id),
    )
    session.add(person)
    session.flush()
    return person, True


def get_or_create_person(
    session: Session, keys: KeyRing, national_id: str, name: str | None = None
) -> tuple[Person, bool]:
    """The person a valid national ID names, created if new (a child registered by a guardian in person)."""
    canonical = normalize_national_id(national_id)
    if not is_valid_national_id(canonical):
        raise Unprocessable("national ID fails its check digit or date", code="invalid-national-id")
    person, created = _get_or_create_person(session, keys, canonical)
    if name and person.name_encrypted is None:
        person.name_encrypted = keys.encrypt(name)
    return person, created


def register_xref(
    session: Session, keys: KeyRing, institution: Institution, reg: XrefRegistration
) -> tuple[Person, bool]:
    """Idempotent: the same triple → same person again answers ``created=False``; a different person is 409."""
    national_id = normalize_national_id(reg.national_id)
    if not is_valid_national_id(national_id):
        raise Unprocessable("national ID fails its check digit or date", code="invalid-national-id")
    patient_id = reg.patient_id.strip()
    if not patient_id:
        raise Unprocessable("patient_id is empty", code="invalid-patient-id")
    person, created = _get_or_create_person(session, keys, national_id)
    if reg.name and person.name_encrypted is None:
        person.name_encrypted = keys.encrypt(reg.name)
    if reg.sex and person.sex is None:
        person.sex = reg.sex
    if reg.health_card:
        card_hash = keys.lookup_hash(HEALTH_CARD, reg.health_card)
        card = session.scalar(select(HealthCard).where(HealthCard.card_number_hash == card_hash))
        if card is None:
            session.add(
                HealthCard(
                    person_id=person.id,
                    card_number_hash=card_hash,
                    card_number_encrypted=keys.encrypt(reg.health_card.strip()),
                )
            )
        elif card.person_id != person.id:
            raise Conflict("health card is bound to another person", code="health-card-conflict")
    local_hash = keys.lookup_hash(LOCAL_ID, patient_id)
    handle = link_handle(institution_link_key(keys, institution.id), reg.issuer, patient_id)
    xref = session.scalar(
        select(PatientXref).where(
            PatientXref.institution_id == institution.id,
            PatientXref.issuer == reg.issuer,
            PatientXref.local_id_hash == local_hash,
        )
    )
    if xref is not None:
        if xref.person_id != person.id:
            raise Conflict("this local patient id is registered to another person", code="xref-conflict")
        xref.link_handle = handle  # registering again gives a cross-reference from before link tokens its handle
        return person, created
    session.add(
        PatientXref(
            institution_id=institution.id,
            issuer=reg.issuer,
            local_id_hash=local_hash,
            local_id_encrypted=keys.encrypt(patient_id),
            link_handle=handle,
            person_id=person.id,
        )
    )
    session.flush()
    return person, True


def institution_link_key(keys: KeyRing, institution_id: int) -> bytes:
    """The institution's link key, derived from the index key (nothing stored, handed only to that institution)."""
    return bytes.fromhex(keys.lookup_hash(LINK_KEY, str(institution_id)))


def resolve_person(session: Session, keys: KeyRing, institution_id: int, patient_id: str, issuer: str) -> Person | None:
    """The person behind a DICOM PatientID: via the institution's cross-reference, else a valid national ID."""
    patient_id = patient_id.strip()
    if not patient_id:
        return None
    local_hash = keys.lookup_hash(LOCAL_ID, patient_id)
    issuers = [issuer] if issuer == "" else [issuer, ""]
    for candidate in issuers:
        person = session.scalar(
            select(Person)
            .join(PatientXref)
            .where(
                PatientXref.institution_id == institution_id,
                PatientXref.issuer == candidate,
                PatientXref.local_id_hash == local_hash,
            )
        )
        if person is not None:
            return person
    national_id = normalize_national_id(patient_id)
    if is_valid_national_id(national_id):
        person, _ = _get_or_create_person(session, keys, national_id)
        return person
    return None


def known_identifiers(session: Session, keys: KeyRing, person: Person) -> KnownIdentifiers:
    """Every identifier of ``person`` the cloud holds, decrypted only in memory, for scrubbing and verifying."""
    ids = [keys.decrypt(person.national_id_encrypted)]
    ids += [
        keys.decrypt(c.card_number_encrypted)
        for c in session.scalars(select(HealthCard).where(HealthCard.person_id == person.id))
    ]
    ids += [
        keys.decrypt(x.local_id_encrypted)
        for x in session.scalars(select(PatientXref).where(PatientXref.person_id == person.id))
    ]
    names = (keys.decrypt(person.name_encrypted),) if person.name_encrypted else ()
    return KnownIdentifiers(names=names, ids=tuple(dict.fromkeys(ids)))
