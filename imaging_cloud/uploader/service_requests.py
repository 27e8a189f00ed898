"""Small JSON and form requests to the service, with the uploader's retry and token-renewal rules.

STOW-RS batches have their own sender (streamed bodies, splitting); the link key, link tokens and report uploads
are single requests whose bodies are in memory, so they share this loop: transient failures are retried, a 401
renews the token once, a 403 or a second 401 stops the run (``NotAuthorized``).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from imaging_cloud.uploader.credentials import TokenSource
from imaging_cloud.uploader.errors import NotAuthorized, ServiceUnreachable
from imaging_cloud.uploader.retry import RetryPolicy, is_transient


class ServiceRequests:
    def __init__(
        self, client: httpx.Client, service_url: str, tokens: TokenSource, retry: RetryPolicy | None = None
    ) -> None:
        self._client = client
        self._url = service_url
        self._tokens = tokens
        self._retry = retry or RetryPolicy()

    def send(self, method: str, path: str, **request: Any) -> httpx.Response:
        """The first non-transient answer; ``request`` is passed to httpx (``json=``, ``data=`` and ``files=``)."""
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            headers = {"Authorization": f"Bearer {self._tokens.bearer()}"}
            try:
                response = self._client.request(method, f"{self._url}{path}", headers=headers, **request)
            except httpx.TransportError as exc:
                if attempt >= self._retry.attempts:
                    raise ServiceUnreachable(f"cannot reach the service: {type(exc).__name__}") from exc
                time.sleep(self._retry.delay(attempt))
                continue
            if response.status_code == 401:
                if not renewed and self._tokens.renew():
                    renewed, attempt = True, attempt - 1
                    continue
                raise NotAuthorized("the service refused the token (401)")
            if response.status_code == 403:
                raise NotAuthorized(f"this account may not do this ({method} {path}: 403)")
            if is_transient(response):
                if attempt >= self._retry.attempts:
                    raise ServiceUnreachable(f"the service kept answering HTTP {response.status_code}")
                time.sleep(self._retry.delay(attempt, response))
                continue
            return response
