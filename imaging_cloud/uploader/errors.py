"""Why an upload or import stops as a whole (the CLI exits 2): the service cannot be reached or refuses us.

Per-file failures are not exceptions; they are outcomes with a reason in the summary.
"""

from __future__ import annotations


class UploadAborted(Exception):
    """The run cannot go on; the message is safe to print (no file names, no PHI)."""


class ServiceUnreachable(UploadAborted):
    """Connection errors persisted through every retry."""


class NotAuthorized(UploadAborted):
    """The token or the client credentials were refused (401), or the account may not do this (403)."""
