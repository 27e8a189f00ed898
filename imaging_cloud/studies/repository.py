"""Queries over the study index that more than one domain needs."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from imaging_cloud.reports.models import Report
from imaging_cloud.studies.models import Instance


def object_key_indexed(session: Session, key: str) -> bool:
    """Whether an index row (instance or report) references ``key``: such an object must never be deleted."""
    in_instances = session.scalar(select(exists().where(Instance.object_key == key)))
    return bool(in_instances) or bool(session.scalar(select(exists().where(Report.object_key == key))))
