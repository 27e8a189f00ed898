"""Absolute URLs of DICOMweb resources (RetrieveURL, BulkDataURI): the configured public URL, else the request's."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

PREFIX = "/dicomweb"


@dataclass(frozen=True)
class ResourceUrls:
    """``base`` is the service root of DICOMweb, e.g. ``https://cloud.example/dicomweb``."""

    base: str

    @classmethod
    def of(cls, request: Request) -> ResourceUrls:
        """From ``public_base_url`` when configured (behind a proxy, or clients that drop the port from Host)."""
        configured = request.app.state.runtime.settings.public_base_url
        base = configured or str(request.base_url)
        return cls(base.rstrip("/") + PREFIX)

    def study(self, study_uid: str) -> str:
        return f"{self.base}/studies/{study_uid}"

    def series(self, study_uid: str, series_uid: str) -> str:
        return f"{self.study(study_uid)}/series/{series_uid}"

    def instance(self, study_uid: str, series_uid: str, sop_uid: str) -> str:
        return f"{self.series(study_uid, series_uid)}/instances/{sop_uid}"

    def bulkdata(self, study_uid: str, series_uid: str, sop_uid: str, tag: str) -> str:
        return f"{self.instance(study_uid, series_uid, sop_uid)}/bulkdata/{tag}"
