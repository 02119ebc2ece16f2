"""`validate`: scenarios found under paths, validated; results as JSON or JUnit XML (one test
case per scenario, one failure per problem list)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tai_labs.errors import UsageError
from tai_labs.reports import junit
from tai_labs.scenario import catalog
from tai_labs.scenario.diagnostics import Diagnostic, display_path
from tai_labs.scenario.loader import validate


@dataclass(frozen=True)
class ValidationResult:
    file: Path
    problems: list[Diagnostic]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": display_path(self.file),
            "valid": not self.problems,
            "problems": [d.as_dict() for d in self.problems],
        }


def validate_paths(paths: Sequence[Path]) -> list[ValidationResult]:
    """Every scenario file under ``paths`` (files or folders), validated in every variant."""
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
        found = list(catalog.iter_scenario_files(path))
        if not found:
            raise UsageError(f"{path}: no scenario.yaml found")
        files.extend(found)
    return [ValidationResult(f, validate(f)) for f in files]


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
