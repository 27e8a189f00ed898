"""Where the bearer token comes from: given on the command line, or fetched with OAuth 2.0 client credentials."""

from __future__ import annotations

import threading
import time
from typing import Protocol

import httpx

from imaging_cloud.uploader.errors import NotAuthorized, ServiceUnreachable

#: Fetch a new token this long before the old one expires.
_EXPIRY_MARGIN_SECONDS = 30.0


class TokenSource(Protocol):
    def bearer(self) -> str:
        """A token to send now."""
        ...

    def renew(self) -> bool:
        """Get a fresh token after a 401; False if this source cannot (a fixed token)."""
        ...


class StaticToken:
    """A token handed over by the operator; it cannot be renewed."""

    def __init__(self, token: str) -> None:
        self._token = token

    def bearer(self) -> str:
        return self._token

    def renew(self) -> bool:
        return False


class ClientCredentials:
    """``POST /auth/token`` with ``grant_type=client_credentials``; renewed before expiry and after a 401."""

    def __init__(self, client: httpx.Client, service_url: str, client_id: str, client_secret: str) -> None:
        self._client = client
        self._url = f"{service_url}/auth/token"
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def _fetch(self) -> None:
        try:
            response = self._client.post(self._url, data=self._form)
        except httpx.TransportError as exc:
            raise ServiceUnreachable(f"cannot reach the service for a token: {type(exc).__name__}") from exc
        if response.status_code in (400, 401, 403):
            raise NotAuthorized("the service refused the client credentials")
        if response.status_code != 200:
            raise ServiceUnreachable(f"the token endpoint answered HTTP {response.status_code}")
        body = response.json()
        self._token = str(body["access_token"])
        self._expires_at = time.monotonic() + float(body.get("expires_in", 300)) - _EXPIRY_MARGIN_SECONDS

    def bearer(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                self._fetch()
            assert self._token is not None
            return self._token

    def renew(self) -> bool:
        with self._lock:
            self._fetch()
        return True
