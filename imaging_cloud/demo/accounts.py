"""The demo's institutions and accounts, with passwords random per data dir, kept in ``demo-accounts.json`` (0600).

Re-running the demo reads the same file, so it prints the same passwords; a deleted file gets new passwords and
the accounts in the database are reset to them.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from auth.principals import Role

ACCOUNTS_FILE = "demo-accounts.json"
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class DemoInstitution:
    code: str
    name: str


INSTITUTIONS = (
    DemoInstitution("SXPH", "山西省人民医院示例"),
    DemoInstitution("TYCH", "太原市中心医院示例"),
    DemoInstitution("DTTH", "大同市第三医院示例"),
)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: str
    institution: str | None
    """Institution code, for institution roles."""
    display_name: str


@dataclass(frozen=True)
class _Spec:
    username: str
    role: Role
    institution: str | None
    display_name: str


def _specs() -> list[_Spec]:
    """Every account the demo sets up: one per role that signs in with a password, per institution where bound."""
    specs = [
        _Spec("demo-admin", Role.ADMIN, None, "演示管理员"),
        _Spec("demo-auditor", Role.AUDITOR, None, "演示审计员"),
    ]
    for institution in INSTITUTIONS:
        code = institution.code.lower()
        specs.append(_Spec(f"{code}-pacs", Role.HOSPITAL, institution.code, f"{institution.name} PACS 网关"))
        specs.append(_Spec(f"{code}-doctor", Role.DOCTOR, institution.code, f"{institution.name} 医生"))
    first = INSTITUTIONS[0]
    specs.append(_Spec(f"{first.code.lower()}-desk", Role.SERVICE_DESK, first.code, f"{first.name} 服务台"))
    return specs


def _write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600 from the first byte (passwords never sit in a world-readable file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
    path.chmod(0o600)


def load_or_create_accounts(data_dir: Path) -> list[DemoAccount]:
    """The demo accounts of this data dir, adding (with fresh random passwords) any the file does not have yet."""
    path = data_dir / ACCOUNTS_FILE
    known: dict[str, DemoAccount] = {}
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        for entry in stored.get("accounts", []):
            account = DemoAccount(**entry)
            known[account.username] = account
    accounts = []
    for spec in _specs():
        existing = known.get(spec.username)
        if existing is not None and existing.role == spec.role.value:
            accounts.append(existing)
        else:
            accounts.append(
                DemoAccount(
                    spec.username, secrets.token_urlsafe(12), spec.role.value, spec.institution, spec.display_name
                )
            )
    if not path.exists() or any(known.get(a.username) != a for a in accounts):
        body = {"version": _FORMAT_VERSION, "accounts": [asdict(a) for a in accounts]}
        _write_private(path, json.dumps(body, ensure_ascii=False, indent=2) + "\n")
    return accounts
