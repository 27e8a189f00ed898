"""The pages' only way to data: the service's own API, called in-process with the signed-in person's token.

A page never reads the database or calls a domain service: it asks the API exactly as a phone app would, so the
authentication, the object-level authorization and the audit event of every read are the API's. The call goes
through the ASGI app directly (no socket) and carries the browser's address and user agent, so the trail
records where the request really came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from fastapi import Request

_INTERNAL_BASE_URL = "http://imaging-cloud.internal"
_TIMEOUT = httpx.Timeout(60.0)


class ApiCallFailed(Exception):
    """The API refused or failed a page's call; ``code`` is its machine-readable error code, ``fields`` the
    request fields a validation error (``invalid-request``) names, e.g. ``("body", "scope", "modality")``."""

    def __init__(self, status: int, code: str, message: str, fields: tuple[tuple[str, ...], ...] = ()) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields


def _fields_named(detail: Any) -> tuple[tuple[str, ...], ...]:
    """The ``loc`` of each item of a validation error's ``detail`` (never values: the API does not echo them)."""
    if not isinstance(detail, list):
        return ()
    return tuple(
        tuple(str(part) for part in item["loc"])
        for item in detail
        if isinstance(item, dict) and isinstance(item.get("loc"), list)
    )


def refuse_climbing(path: str) -> None:
    """A path a page built from its own path parameters may not climb out of the resource it names (``..``, an
    encoded slash): the API would still authorize whatever it reached, but the page would show what it did not ask."""
    if any(segment in {".", ".."} for segment in path.split("?", 1)[0].split("/")) or "%2" in path.lower():
        raise ApiCallFailed(404, "not-found", "no such resource")


class ApiClient:
    """Calls the API as ``token``'s holder (or anonymously for sign-in) on behalf of one browser request."""

    def __init__(self, request: Request, token: str | None) -> None:
        self._request = request
        self._token = token

    def _client(self) -> httpx.AsyncClient:
        origin = self._request.client
        transport = httpx.ASGITransport(
            app=self._request.app, client=(origin.host, origin.port) if origin else ("127.0.0.1", 0)
        )
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        for name in ("user-agent", "x-request-id"):
            if value := self._request.headers.get(name):
                headers[name] = value
        return httpx.AsyncClient(transport=transport, base_url=_INTERNAL_BASE_URL, headers=headers, timeout=_TIMEOUT)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any | None = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The API's answer; any status of 400 or more raises ``ApiCallFailed`` with the API's error code."""
        refuse_climbing(path)
        async with self._client() as client:
            response = await client.request(method, path, params=params, json=json, data=data)
        if response.status_code >= 400:
            try:
                body = response.json()
                code, message = str(body.get("code", "error")), str(body.get("message", ""))
                fields = _fields_named(body.get("detail"))
            except ValueError:
                code, message, fields = "error", "", ()
            raise ApiCallFailed(response.status_code, code, message, fields)
        return response

    async def get(self, path: str, **params: Any) -> Any:
        return (await self.request("GET", path, params={k: v for k, v in params.items() if v is not None})).json()

    async def post(self, path: str, body: Any | None = None, *, form: Mapping[str, str] | None = None) -> Any:
        response = await self.request("POST", path, json=body, data=form)
        return response.json() if response.content else None

    async def delete(self, path: str) -> None:
        await self.request("DELETE", path)
