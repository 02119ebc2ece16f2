"""A lab's status as one typed record: what `tai-labs status` shows and `--json` prints.

``LabStatus.to_dict()`` is the documented JSON of `tai-labs status --json` (and of `up --json`,
which adds access details): keep field names and order, add fields at the end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tai_labs.lab.runtime import Lab, open_lab
from tai_labs.lab.store import StepRecord


@dataclass(frozen=True)
class NodeStatus:
    name: str
    kind: str
    engine: str
    resource: str
    #: The engine's state ("running", ...), "absent" before the node exists, or
    #: "unknown (why)" when the engine cannot tell.
    state: str
    ready: bool
    management: str | None
    addresses: list[str]


@dataclass(frozen=True)
class LabStatus:
    id: str
    scenario: str
    candidate: str
    seed: int
    status: str
    error: str | None
    created: float
    folder: Path
    brief: Path
    steps: list[StepRecord]
    nodes: list[NodeStatus]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["folder"] = str(self.folder)
        data["brief"] = str(self.brief)
        return data


def _node_state(lab: Lab, resource: str) -> str:
    try:
        return lab.engine.state(resource).value
    except Exception as exc:  # the status of a broken lab must still print
        return f"unknown ({exc})"


def describe(lab: Lab) -> LabStatus:
    records = {r.name: r for r in lab.store.nodes(lab.id)}
    nodes = []
    for plan in lab.plan.nodes:
        record = records.get(plan.name)
        nodes.append(
            NodeStatus(
                name=plan.name,
                kind=plan.kind.value,
                engine=plan.engine,
                resource=plan.resource,
                state=_node_state(lab, plan.resource) if record is not None else "absent",
                ready=bool(record and record.ready),
                management=record.mgmt_address if record else None,
                addresses=[str(n.address) for n in plan.nics if n.address],
            )
        )
    rec = lab.record
    return LabStatus(
        id=rec.id,
        scenario=rec.scenario,
        candidate=rec.candidate,
        seed=rec.seed,
        status=rec.status,
        error=rec.error,
        created=rec.created,
        folder=lab.folder,
        brief=lab.folder / "brief.md",
        steps=list(lab.store.steps(lab.id)),
        nodes=nodes,
    )


def lab_status(lab_id: str) -> LabStatus:
    """The status of an existing lab, asking its engine about every node."""
    return describe(open_lab(lab_id))
