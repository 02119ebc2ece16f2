"""One JUnit XML writer for every report CI systems read: grade, validate, selftest.

Each report maps its results to a ``Suite`` of ``Case``s; this module alone knows the XML.
Optional attributes are written only when given, so each report keeps the exact document
it always produced.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Outcome:
    """Why a case did not pass: a ``failure``, an ``error`` or a ``skipped`` element."""

    kind: Literal["failure", "error", "skipped"]
    message: str
    type: str | None = None
    text: str = ""


@dataclass(frozen=True)
class Case:
    classname: str
    name: str
    time: str | None = None
    outcome: Outcome | None = None
    system_out: str = ""


@dataclass(frozen=True)
class Suite:
    name: str
    cases: Sequence[Case]
    # Counted by the report: its own idea of a failure may not be one element per case.
    failures: int
    errors: int | None = None
    skipped: int | None = None
    time: str | None = None
    timestamp: str | None = None
    properties: Sequence[tuple[str, str]] = ()


def _attrs(**values: str | int | None) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}


def to_xml(suite: Suite) -> str:
    """The document, with its XML declaration and a final newline."""
    root = ET.Element(
        "testsuite",
        _attrs(
            name=suite.name,
            tests=len(suite.cases),
            failures=suite.failures,
            errors=suite.errors,
            skipped=suite.skipped,
            time=suite.time,
            timestamp=suite.timestamp,
        ),
    )
    if suite.properties:
        props = ET.SubElement(root, "properties")
        for name, value in suite.properties:
            ET.SubElement(props, "property", name=name, value=value)
    for case in suite.cases:
        node = ET.SubElement(
            root, "testcase", _attrs(classname=case.classname, name=case.name, time=case.time)
        )
        if case.outcome is not None:
            out = case.outcome
            element = ET.SubElement(node, out.kind, _attrs(message=out.message, type=out.type))
            if out.text:
                element.text = out.text
        if case.system_out:
            ET.SubElement(node, "system-out").text = case.system_out
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
