"""Grade reports in the formats juries and CI systems read: JSON, JUnit XML, HTML.

The terminal table lives with the CLI (it is rich output); these are files.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from importlib import resources

from jinja2 import Environment, StrictUndefined, select_autoescape

from tai_labs.grading.model import Verdict
from tai_labs.grading.result import GradeReport


def to_json(report: GradeReport) -> str:
    return report.model_dump_json(indent=2) + "\n"


def to_junit(report: GradeReport) -> str:
    """One test case per check; fail -> failure, error -> error, skipped -> skipped."""
    suite = ET.Element(
        "testsuite",
        name=f"tai-labs {report.scenario} ({report.candidate})",
        tests=str(len(report.checks)),
        failures=str(report.count(Verdict.FAIL)),
        errors=str(report.count(Verdict.ERROR)),
        skipped=str(report.count(Verdict.SKIPPED)),
        time=f"{report.seconds:.3f}",
        timestamp=report.started.isoformat(timespec="seconds"),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("lab", report.lab),
        ("candidate", report.candidate),
        ("seed", str(report.seed)),
        ("points", f"{report.points:g}/{report.max_points:g}"),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    for check in report.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{report.scenario}.{check.competence}.{check.criterion}",
            name=check.id,
            time=f"{check.seconds:.3f}",
        )
        detail = "\n".join(
            f"[{e.node} via {e.transport}] $ {e.command}\n{e.output}" for e in check.evidence
        )
        if check.verdict is Verdict.FAIL:
            node = ET.SubElement(case, "failure", message=check.message, type="fail")
            node.text = f"{check.why_en}\n{detail}".strip()
        elif check.verdict is Verdict.ERROR:
            node = ET.SubElement(case, "error", message=check.why_en, type="error")
            node.text = detail
        elif check.verdict is Verdict.SKIPPED:
            ET.SubElement(case, "skipped", message=check.why_en)
        if detail and check.verdict is Verdict.PASS:
            ET.SubElement(case, "system-out").text = detail
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _fr_date(value: datetime) -> str:
    return value.astimezone().strftime("%d/%m/%Y à %H:%M")


def _fr_duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _fr_number(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def to_html(report: GradeReport) -> str:
    """A self-contained French jury report (no external resources), printable to PDF."""
    env = Environment(
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fr_date"] = _fr_date
    env.filters["fr_number"] = _fr_number
    text = resources.files("tai_labs.reports").joinpath("templates/jury.html.j2").read_text("utf-8")
    exam = None
    if report.exam_started is not None:
        exam = _fr_duration((report.started - report.exam_started).total_seconds())
    return env.from_string(text).render(
        r=report,
        Verdict=Verdict,
        duration=_fr_duration(report.seconds),
        exam_duration=exam,
        by_competence={
            c.id: [x for x in report.checks if x.competence == c.id] for c in report.competences
        },
    )
