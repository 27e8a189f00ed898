"""The web portals: server-rendered pages for patients, family proxies, doctors, the service desk and auditors.

The pages add no access path of their own: every piece of data a page shows comes from the public API, called
in-process with the signed-in person's own token (``imaging_cloud.web.api``), so the same authentication,
authorization and audit apply to a page as to any API client. An import contract keeps this package away from
the database and the domain services.
"""
