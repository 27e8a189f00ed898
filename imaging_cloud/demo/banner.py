"""What ``imaging-cloud demo`` prints when it is done: where the service is and who can sign in."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from imaging_cloud.demo.seed import SeedResult


def render_demo(result: SeedResult, console: Console, url: str) -> None:
    """The demo accounts (synthetic, so printing them is fine) and the URL; nothing about the patients' IDs."""
    names = {i.code: i.name for i in result.institutions}
    table = Table(title="demo accounts (passwords are random per data dir, kept in demo-accounts.json)")
    for column in ("role", "username", "password", "institution"):
        table.add_column(column)
    for account in result.accounts:
        institution = f"{names.get(account.institution, '')} ({account.institution})" if account.institution else ""
        table.add_row(account.role, account.username, account.password, institution)
    console.print(table)
    console.print(
        f"{len(result.patients)} synthetic patients, {len(result.studies)} studies: "
        f"{result.instances_stored} instances stored now, {result.instances_already_present} already present; "
        f"{result.reports_created + result.reports_present} text reports."
    )
    console.print(f"web portals: {url}/web/  (zh-CN; English and large text by the switch in the header)")
    console.print(f"service: {url}  (API docs: {url}/docs)")
    console.print(
        f"patients: sign in at {url}/web/sign-in with the electronic health card button, or as any demo patient at "
        f"{url}/dev-ehc/ (development EHC issuer, never in production); staff: the accounts above"
    )
    for example in result.consent:
        console.print(f"consent: {example.description}", markup=False)
    console.print(
        "sign in: POST /auth/token with grant_type=client_credentials (hospital clients) or grant_type=password "
        "(staff accounts)",
        markup=False,
    )
