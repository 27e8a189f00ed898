"""The closed vocabularies of an audit event: what was attempted, how it was decided, on what kind of thing.

Values are stored in the chain and hashed, so they are stable strings: rename a member, never its value.
"""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    """What the actor attempted (one per route family, plus the service's own audit operations)."""

    SIGN_IN = "sign-in"
    UPLOAD = "upload"
    SEARCH = "search"
    RETRIEVE = "retrieve"
    RETRIEVE_METADATA = "retrieve-metadata"
    RETRIEVE_FRAMES = "retrieve-frames"
    RETRIEVE_BULKDATA = "retrieve-bulkdata"
    RETRIEVE_RENDERED = "retrieve-rendered"
    RETRIEVE_THUMBNAIL = "retrieve-thumbnail"
    REGISTER_XREF = "register-xref"
    UPLOAD_REPORT = "upload-report"
    LIST_REPORTS = "list-reports"
    READ_REPORT = "read-report"
    CREATE_INSTITUTION = "create-institution"
    CREATE_ACCOUNT = "create-account"
    READ_AUDIT = "read-audit"
    VERIFY_AUDIT = "verify-audit"
    EXPORT_AUDIT = "export-audit"
    CHECKPOINT_AUDIT = "checkpoint-audit"
    GRANT_CREATE = "grant-create"
    GRANT_REVOKE = "grant-revoke"
    GRANT_LIST = "grant-list"
    GRANT_USES = "grant-uses"
    CODE_ISSUE = "code-issue"
    CODE_REVOKE = "code-revoke"
    CODE_LIST = "code-list"
    CODE_REDEEM = "code-redeem"
    PROXY_ADD = "proxy-add"
    PROXY_REMOVE = "proxy-remove"
    PROXY_LIST = "proxy-list"
    REPRESENTED_LIST = "represented-list"
    BREAK_GLASS = "break-glass"
    BREAK_GLASS_END = "break-glass-end"
    BREAK_GLASS_LIST = "break-glass-list"
    DESK_SESSION_START = "desk-session-start"
    DESK_SESSION_END = "desk-session-end"
    DESK_REGISTER_CHILD = "desk-register-child"
    ACCESS_LOG_VIEW = "access-log-view"
    DOCTOR_PATIENTS = "doctor-patients"
    SIGN_OUT = "sign-out"
    REFRESH = "refresh"
    ACT_FOR = "act-for"
    BREAK_GLASS_REVIEW_LIST = "break-glass-review-list"
    BREAK_GLASS_REVIEW = "break-glass-review"
    LINK_KEY_READ = "link-key-read"
    LINK_TOKEN_ISSUE = "link-token-issue"  # noqa: S105 (an action name, not a secret)
    FLAG_LIST = "flag-list"
    FLAG_REVIEW = "flag-review"
    DIMSE_ASSOCIATION = "dimse-association"
    DIMSE_ECHO = "dimse-echo"
    DIMSE_STORE = "dimse-store"


class AuditDecision(StrEnum):
    """``allow``: served. ``deny``: refused by authentication or authorization (401, 403, 404). ``error``: the
    request failed for another reason (malformed, too large, a backend down); ``outcome`` names it."""

    ALLOW = "allow"
    DENY = "deny"
    ERROR = "error"


class TargetKind(StrEnum):
    """What the pseudonymous ``target_id`` names; never an identifier a person could be found by."""

    STUDY = "study"
    SERIES = "series"
    INSTANCE = "instance"
    REPORT = "report"
    PERSON = "person"
    INSTITUTION = "institution"
    ACCOUNT = "account"
    AUDIT_TRAIL = "audit-trail"
    BREAK_GLASS_SESSION = "break-glass"
    AUDIT_FLAG = "audit-flag"
    AE_TITLE = "ae-title"
