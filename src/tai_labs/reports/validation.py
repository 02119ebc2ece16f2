"""Validation results as JUnit XML: one test case per scenario, one failure per problem list."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from tai_labs.scenario.diagnostics import Diagnostic, display_path


@dataclass(frozen=True)
class ValidationResult:
    file: Path
    problems: list[Diagnostic]


def junit_xml(results: list[ValidationResult]) -> str:
    failures = sum(1 for r in results if r.problems)
    suite = ET.Element(
        "testsuite",
        name="tai-labs validate",
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
    )
    for result in results:
        case = ET.SubElement(
            suite, "testcase", classname="scenario", name=display_path(result.file)
        )
        if result.problems:
            failure = ET.SubElement(
                case, "failure", message=f"{len(result.problems)} problem(s)", type="invalid"
            )
            failure.text = "\n".join(d.format() for d in result.problems)
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)
