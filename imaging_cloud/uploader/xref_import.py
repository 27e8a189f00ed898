"""``imaging-cloud xref import FILE.csv``: feed a hospital's patient cross-references to ``POST /patients/xrefs``.

Columns: patient_id, issuer, national_id, health_card, name, sex (only patient_id and national_id are required).
Rows are checked locally first (national ID check digit, sex code) so a typo never leaves the hospital. The
summary names rows by their line number in the file, never by their values.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from auth.national_id import is_valid_national_id, normalize_national_id
from imaging_cloud.uploader.credentials import TokenSource
from imaging_cloud.uploader.errors import NotAuthorized, ServiceUnreachable
from imaging_cloud.uploader.retry import RetryPolicy, is_transient

XREF_COLUMNS = ("patient_id", "issuer", "national_id", "health_card", "name", "sex")
REQUIRED_COLUMNS = ("patient_id", "national_id")


@dataclass
class XrefImportSummary:
    created: list[int] = field(default_factory=list)
    existing: list[int] = field(default_factory=list)
    conflicts: list[int] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)
    """(line number, reason code)."""

    @property
    def exit_code(self) -> int:
        return 1 if self.conflicts or self.invalid else 0


def _local_problem(row: dict[str, str]) -> str | None:
    if not row["patient_id"]:
        return "missing-patient-id"
    if not is_valid_national_id(normalize_national_id(row["national_id"])):
        return "invalid-national-id"
    if row["sex"] and row["sex"] not in ("M", "F", "O"):
        return "invalid-sex"
    return None


def _payload(row: dict[str, str]) -> dict[str, str | None]:
    return {
        "patient_id": row["patient_id"],
        "issuer": row["issuer"],
        "national_id": normalize_national_id(row["national_id"]),
        "health_card": row["health_card"] or None,
        "name": row["name"] or None,
        "sex": row["sex"] or None,
    }


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"http-{response.status_code}"
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) and code else f"http-{response.status_code}"


def _post(
    client: httpx.Client, url: str, tokens: TokenSource, payload: dict[str, str | None], retry: RetryPolicy
) -> httpx.Response:
    renewed = False
    attempt = 0
    while True:
        attempt += 1
        try:
            response = client.post(url, json=payload, headers={"Authorization": f"Bearer {tokens.bearer()}"})
        except httpx.TransportError as exc:
            if attempt >= retry.attempts:
                raise ServiceUnreachable(f"cannot reach the service: {type(exc).__name__}") from exc
            time.sleep(retry.delay(attempt))
            continue
        if response.status_code == 401:
            if not renewed and tokens.renew():
                renewed, attempt = True, attempt - 1
                continue
            raise NotAuthorized("the service refused the token (401)")
        if response.status_code == 403:
            raise NotAuthorized("this account may not register patient cross-references (403)")
        if is_transient(response):
            if attempt >= retry.attempts:
                raise ServiceUnreachable(f"the service kept answering HTTP {response.status_code}")
            time.sleep(retry.delay(attempt, response))
            continue
        return response


def import_xrefs(
    csv_path: Path,
    *,
    service_url: str,
    tokens: TokenSource,
    client: httpx.Client,
    encoding: str = "utf-8-sig",
    retry: RetryPolicy | None = None,
) -> XrefImportSummary:
    """Register every row; raises ValueError for a file without the required columns."""
    retry = retry or RetryPolicy()
    url = f"{service_url}/patients/xrefs"
    summary = XrefImportSummary()
    with csv_path.open(encoding=encoding, newline="") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip().lower() for name in reader.fieldnames or []]
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            raise ValueError(f"the CSV header lacks the column(s): {', '.join(missing)}")
        reader.fieldnames = header
        tokens.bearer()
        for raw in reader:
            line = reader.line_num
            row = {name: (raw.get(name) or "").strip() for name in XREF_COLUMNS}
            problem = _local_problem(row)
            if problem is not None:
                summary.invalid.append((line, problem))
                continue
            response = _post(client, url, tokens, _payload(row), retry)
            if response.status_code == 201:
                summary.created.append(line)
            elif response.status_code == 200:
                summary.existing.append(line)
            elif response.status_code == 409:
                summary.conflicts.append(line)
            else:
                summary.invalid.append((line, _error_code(response)))
    return summary
