"""The three JUnit documents (grade, validate, selftest) are pinned byte for byte."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tai_labs.grading.model import Verdict
from tai_labs.grading.result import CheckResult, CompetenceResult, EvidenceItem, GradeReport
from tai_labs.lab.selftest import Phase, SelftestResult
from tai_labs.reports.grading import to_junit
from tai_labs.reports.selftest import selftest_junit
from tai_labs.reports.validation import ValidationResult, junit_xml
from tai_labs.scenario.diagnostics import Diagnostic

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "junit"
# TAI_LABS_REGOLD=1 rewrites the golden files (review the diff before committing it).
REGOLD = os.environ.get("TAI_LABS_REGOLD") == "1"


def _check(n: int, verdict: Verdict, evidence: bool) -> CheckResult:
    items = [EvidenceItem(node="pc1", transport="ssh", command="id bob", rc=0, output="uid=1 <&>")]
    return CheckResult(
        id=f"check-{n}",
        title="t",
        grader="ad.user",
        targets=["pc1"],
        competence="C1",
        criterion="1.a",
        criterion_text="x",
        verdict=verdict,
        points=1.0 if verdict is Verdict.PASS else 0.0,
        max_points=1.5,
        message="message « fr » & <b>",
        why_fr="pourquoi",
        why_en='why "en"',
        evidence=items if evidence else [],
        seconds=0.1234 * n,
    )


def _report() -> GradeReport:
    started = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    checks = [
        _check(1, Verdict.PASS, True),
        _check(2, Verdict.PASS, False),
        _check(3, Verdict.FAIL, True),
        _check(4, Verdict.ERROR, True),
        _check(5, Verdict.SKIPPED, False),
    ]
    return GradeReport(
        lab="abc123",
        scenario="compte-verrouille",
        scenario_title="Compte",
        block="CCP1",
        candidate="Zoé",
        seed=3,
        started=started,
        finished=started + timedelta(seconds=12.3456),
        threshold=0.5,
        checks=checks,
        competences=[
            CompetenceResult(
                id="C1",
                title="c",
                block="CCP1",
                points=2,
                max_points=7.5,
                acquired=False,
                checks=[c.id for c in checks],
            )
        ],
        points=2,
        max_points=7.5,
    )


def _validation() -> list[ValidationResult]:
    return [
        ValidationResult(Path("/no/where/ok/scenario.yaml"), []),
        ValidationResult(
            Path("/no/where/bad/scenario.yaml"),
            [Diagnostic(None, ("checks", 0), "wrong <type>", hint="fix it")] * 2,
        ),
    ]


def _selftest() -> list[SelftestResult]:
    return [
        SelftestResult("a", {}, 0, phases=[Phase("up", True, "", 1.0)], seconds=10.04),
        SelftestResult(
            "b",
            {"fault": "dns", "n": 2},
            1,
            phases=[Phase("up", True), Phase("grade", False, "x <y>"), Phase("down", False, "z")],
            seconds=3.25,
        ),
        SelftestResult("c", {"v": 1}, 2, phases=[], seconds=0.0),
    ]


@pytest.mark.parametrize(
    ("name", "render"),
    [
        ("grade.xml", lambda: to_junit(_report())),
        ("validate.xml", lambda: junit_xml(_validation())),
        ("selftest.xml", lambda: selftest_junit(_selftest())),
    ],
)
def test_junit_documents_are_unchanged(name: str, render: object) -> None:
    text = render()  # type: ignore[operator]
    golden = GOLDEN / name
    if REGOLD:
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
