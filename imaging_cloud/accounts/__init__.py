"""Accounts that sign in to the service: hospital system clients, administrators (more roles later)."""
