"""The tamper-evident audit trail: every access attempt, allowed or denied, as one hash-chained event."""
