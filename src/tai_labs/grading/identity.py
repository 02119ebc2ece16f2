"""The identities of the objects a scenario's checks are about, recorded at exam start.

A jury does not accept an account deleted and recreated under the same name as "the account
unlocked": it has a new SID (lost file ownerships, profile, ACLs). So at exam start each check
that judges objects (``Check.identify``) records what they are; grading gives the record back
to ``judge`` in ``Evidence.baseline``, and a replaced object fails the check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from tai_labs.grading.base import CHECKS, Check, Sessions
from tai_labs.scenario.model import CheckUse
from tai_labs.sessions.base import SessionError


class Identities(BaseModel):
    """Per check id, per target node: the object name to its identity (an objectGUID)."""

    model_config = ConfigDict(extra="forbid")

    recorded: datetime = Field(default_factory=lambda: datetime.now(UTC))
    checks: dict[str, dict[str, dict[str, str]]] = {}
    #: Checks whose objects could not be asked at exam start, with the reason (their
    #: objects are then judged without identity, and the record says so).
    unrecorded: dict[str, str] = {}

    def of(self, check: str, node: str) -> dict[str, str]:
        return dict(self.checks.get(check, {}).get(node, {}))


def identifies(grader: str) -> bool:
    """Whether the check records identities (it overrides ``Check.identify``)."""
    return CHECKS.get(grader).identify is not Check.identify


def record_identities(
    checks: Sequence[CheckUse],
    sessions: Sessions,
    on_unrecorded: Callable[[str, str], None] = lambda check, why: None,
) -> Identities:
    """Ask every identifying check's targets for the identities of its objects, now."""
    record = Identities()
    for check in checks:
        if not identifies(check.grader):
            continue
        plugin = CHECKS.get(check.grader)
        params = check.bound_params(plugin.Params)
        for node in check.targets:
            try:
                found = plugin().identify(sessions.get(node, plugin.session), params)
            except SessionError as exc:  # a fault may keep the node from answering
                record.unrecorded[check.id] = f"{node}: {exc.message}"
                on_unrecorded(check.id, record.unrecorded[check.id])
                continue
            if found:
                record.checks.setdefault(check.id, {})[node] = found
    return record
