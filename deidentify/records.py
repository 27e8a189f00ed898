"""The record of what de-identification did to one object: tags, action codes and reasons, never values."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: action recorded for attributes the de-identifier inserts or sets itself (pseudonym, method, charset)
SET = "set"


@dataclass(frozen=True)
class TagAction:
    """One attribute: where (tag path), what (action code or ``set``), why (reason slug), the table's code."""

    path: str
    action: str
    reason: str
    table_code: str = ""


@dataclass(frozen=True)
class ActionRecord:
    """Per-object record for the audit trail; ``counts`` are per action, ``scrubbed`` counts text replacements."""

    profile: str
    actions: tuple[TagAction, ...]
    counts: Mapping[str, int]
    scrubbed: int
    harvested: int
    options_applied: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {
            "profile": self.profile,
            "options_applied": list(self.options_applied),
            "counts": dict(self.counts),
            "scrubbed": self.scrubbed,
            "harvested": self.harvested,
            "actions": [
                {"path": a.path, "action": a.action, "reason": a.reason, "table_code": a.table_code}
                for a in self.actions
            ],
        }


@dataclass
class RecordBuilder:
    """Collects actions while an object is processed."""

    profile: str
    actions: list[TagAction] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    scrubbed: int = 0
    harvested: int = 0

    def add(self, path: str, action: str, reason: str, table_code: str = "") -> None:
        code = str(action)  # ActionCode members are str enums: store their plain value
        self.actions.append(TagAction(path, code, reason, table_code))
        self.counts[code] += 1

    def count(self, action: str) -> None:
        """Count without an entry (attributes kept unchanged that the table does not list)."""
        self.counts[action] += 1

    def build(self, options_applied: tuple[str, ...]) -> ActionRecord:
        return ActionRecord(
            profile=self.profile,
            actions=tuple(self.actions),
            counts=MappingProxyType(dict(self.counts)),
            scrubbed=self.scrubbed,
            harvested=self.harvested,
            options_applied=options_applied,
        )
