"""Validation results as JUnit XML: one test case per scenario, one failure per problem list."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tai_labs.reports import junit
from tai_labs.scenario.diagnostics import Diagnostic, display_path


@dataclass(frozen=True)
class ValidationResult:
    file: Path
    problems: list[Diagnostic]


def _case(result: ValidationResult) -> junit.Case:
    outcome = None
    if result.problems:
        outcome = junit.Outcome(
            "failure",
            f"{len(result.problems)} problem(s)",
            "invalid",
            "\n".join(d.format() for d in result.problems),
        )
    return junit.Case(classname="scenario", name=display_path(result.file), outcome=outcome)


def junit_xml(results: list[ValidationResult]) -> str:
    return junit.to_xml(
        junit.Suite(
            name="tai-labs validate",
            cases=[_case(r) for r in results],
            failures=sum(1 for r in results if r.problems),
            errors=0,
        )
    )
