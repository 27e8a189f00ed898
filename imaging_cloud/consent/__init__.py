"""The patient's consent: grants, one-time codes, family proxies, break-glass and staff-assisted sessions."""
