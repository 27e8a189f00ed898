"""One unit of work: a session that commits or rolls back as a whole, plus the objects it wrote.

A rollback also undoes the object-store writes made inside the unit (compensation), so the store never holds an
object without its index row. Services receive a unit of work and never commit themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from imaging_cloud.storage.protocol import ObjectStore

logger = logging.getLogger(__name__)

#: Asked after a rollback whether another transaction has since indexed the key (then it must stay).
KeyStillIndexed = Callable[[Session, str], bool]


class UnitOfWork:
    def __init__(self, session: Session, store: ObjectStore, key_still_indexed: KeyStillIndexed) -> None:
        self.session = session
        self.store = store
        self._key_still_indexed = key_still_indexed
        self._written: list[str] = []

    def wrote(self, key: str) -> None:
        """Register an object written in this unit, to be deleted if the unit rolls back."""
        self._written.append(key)

    def commit(self) -> None:
        self.session.commit()
        self._written.clear()

    def rollback(self) -> None:
        self.session.rollback()
        for key in self._written:
            try:
                if not self._key_still_indexed(self.session, key):
                    self.store.delete(key)
            except Exception:  # compensation must not mask the original error; fsck repairs the rest
                logger.exception("compensating delete failed for an object; run `imaging-cloud fsck`")
        self._written.clear()
        self.session.rollback()

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self.commit()
            else:
                self.rollback()
        finally:
            self.session.close()


class UnitOfWorkFactory:
    def __init__(self, sessions: sessionmaker[Session], store: ObjectStore, key_still_indexed: KeyStillIndexed) -> None:
        self._sessions = sessions
        self._store = store
        self._key_still_indexed = key_still_indexed

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self._sessions(), self._store, self._key_still_indexed)

    @contextmanager
    def read_only(self) -> Iterator[Session]:
        """A session for reads; anything left pending is rolled back."""
        session = self._sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()
