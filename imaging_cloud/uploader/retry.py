"""When and how long to wait before trying a request again: exponential backoff with jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

#: Answers that say "try again later" rather than "this request is wrong".
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})

_jitter = random.SystemRandom()


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    """Tries per request, the first included."""
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based); honours a numeric Retry-After."""
        if response is not None:
            retry_after = response.headers.get("retry-after", "")
            if retry_after.isdigit():
                return min(self.max_delay, float(retry_after))
        backoff: float = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        jitter: float = _jitter.uniform(0.5, 1.0)
        return backoff * jitter


def is_transient(response: httpx.Response) -> bool:
    return response.status_code in TRANSIENT_STATUSES
