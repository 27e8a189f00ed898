"""Pure authentication and authorization library: tokens, principals, national IDs, secrets, access policy.

No web framework, no database, no environment, no logging configuration: the service loads facts and keys and
passes them in; this package decides.
"""
