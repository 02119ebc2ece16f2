"""A graded lab: one result per check, summed per competence against the referential.

The JSON form (``GradeReport.model_dump(mode="json")``) is the stable, documented schema of
`tai-labs grade --format json` (docs/grading.md); add fields, never rename them.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tai_labs.grading.audit import ChangeAudit
from tai_labs.grading.model import Verdict

REPORT_SCHEMA_VERSION = 1


class EvidenceItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    node: str
    transport: str  # ssh, exec, winrm, ldap, cli; rootfs, netns when read from the host
    #: "node": a program of the node answered (its root could forge it); "host": the host
    #: read the node's files or network namespace itself (docs/security.md).
    source: str = "node"
    command: str
    rc: int | None = None
    output: str = Field(description="the output, cut to what a jury needs to read")
    truncated: list[str] = Field(
        default=[],
        description="streams (stdout, stderr) the node printed past the output bound",
    )
    fallback: str = Field(
        default="",
        description="why the exec channel stood in for SSH (e.g. 'fallback: host key "
        "mismatch'); empty when the evidence came over the session asked for",
    )
    after_restart: bool = Field(
        default=False, description="read after the restart phase restarted the node"
    )


class CheckResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    grader: str
    targets: list[str]
    competence: str
    criterion: str
    criterion_text: str
    verdict: Verdict
    points: float = Field(description="points earned; negative for a broken invariant")
    max_points: float = Field(description="points possible; 0 for an invariant")
    message: str = Field(description="French message for the jury (the scenario's, or why)")
    why_fr: str
    why_en: str
    decisive: str = ""
    review: str = Field(
        default="",
        description="on a fail the grader could not judge reliably: the passage the jury "
        "appraises (à apprécier); no points are awarded automatically",
    )
    evidence: list[EvidenceItem] = []
    seconds: float
    persistent: bool = Field(default=False, description="the fix must survive a restart")
    after_restart: Verdict | None = Field(
        default=None,
        description="the verdict once the target nodes were restarted; none when not judged again",
    )
    invariant: bool = Field(
        default=False,
        description="what must not change: earns nothing when it holds, costs its penalty "
        "when broken (docs/grading.md, Invariants)",
    )
    penalty: float = Field(default=0.0, description="points a broken invariant costs; 0 if not one")


class CompetenceResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    block: str
    points: float = Field(description="earned, less broken invariants' penalties, floored at 0")
    max_points: float = Field(description="sum of its checks' points, invariants excluded")
    acquired: bool
    checks: list[str]
    penalties: float = Field(default=0.0, description="points its broken invariants cost")


class RestartPhase(BaseModel):
    """What the restart phase of a grading did (``GradeReport.restart``)."""

    model_config = ConfigDict(frozen=True)

    ran: bool = Field(description="nodes were restarted and the persistent checks judged again")
    nodes: list[str] = Field(default=[], description="the nodes restarted, each once")
    checks: list[str] = Field(default=[], description="the persistent checks judged again")
    seconds: float = Field(default=0.0, description="time the phase added to the grading")
    restored: bool = Field(
        default=False, description="the restarted nodes were put back to their frozen end state"
    )
    note: str = Field(default="", description="French: why it did not run, or what to know")


class GradeReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: int = REPORT_SCHEMA_VERSION
    lab: str
    scenario: str
    scenario_title: str
    block: str
    candidate: str
    seed: int
    started: datetime
    finished: datetime
    exam_started: datetime | None = Field(
        default=None, description="when the lab was handed to the candidate"
    )
    threshold: float = Field(description="share of a competence's points needed to acquire it")
    checks: list[CheckResult]
    competences: list[CompetenceResult]
    points: float = Field(description="sum of the competences' points")
    max_points: float
    restart: RestartPhase | None = Field(
        default=None, description="the restart phase (persistent checks); none: no such check"
    )
    #: What else changed since exam start ("modifications constatées"), for the jury only:
    #: never scored. None when not audited (selftest, or `grade --no-audit`).
    changes: ChangeAudit | None = None
    penalties: float = Field(default=0.0, description="points broken invariants cost in all")

    @property
    def seconds(self) -> float:
        return (self.finished - self.started).total_seconds()

    def count(self, verdict: Verdict) -> int:
        return sum(1 for c in self.checks if c.verdict is verdict)

    @property
    def exit_code(self) -> int:
        """0 all pass, 3 any error, 1 any other failure (skipped counts as failed)."""
        if self.count(Verdict.ERROR):
            return 3
        return 0 if all(c.verdict is Verdict.PASS for c in self.checks) else 1
