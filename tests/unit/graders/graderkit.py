"""Helpers for the judge tests (``from graderkit import ...``): evidence built from outputs
captured on a real node.

``captured/*.json`` hold the argv, rc, stdout and stderr of commands run on a lab's pc1
(Debian 12 client image). Outputs the lab images cannot produce (a running cupsd, a French
locale) are written inline in the tests from the tool's documented format, and say so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.sessions.base import CommandResult, CommandSession

CAPTURED = Path(__file__).parent / "captured"


def captured(name: str) -> CommandResult:
    data = json.loads((CAPTURED / f"{name}.json").read_text())
    return CommandResult(data["rc"], data["stdout"], data["stderr"], " ".join(data["argv"]))


def out(rc: int = 0, stdout: str = "", stderr: str = "") -> CommandResult:
    return CommandResult(rc, stdout, stderr, "test")


def evidence(facts: dict[str, Any] | None = None, **outputs: CommandResult | str) -> Evidence:
    """Evidence whose named outputs are ``outputs`` (a captured file name or a result)."""
    ev = Evidence(facts=dict(facts or {}))
    for key, value in outputs.items():
        result = captured(value) if isinstance(value, str) else value
        ev.add(result)
        ev.facts.setdefault("outputs", {})[key] = len(ev.commands) - 1
    return ev


class FakeSession(CommandSession):
    """Answers each command from a list of (argv-substring, result); records what ran."""

    shell = "posix"
    transport = "fake"

    def __init__(self, answers: Sequence[tuple[str, CommandResult]] = ()) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[list[str], str | None]] = []

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        self.calls.append((list(argv), input))
        joined = " ".join(argv)
        for needle, result in self.answers:
            if needle in joined:
                return CommandResult(result.rc, result.stdout, result.stderr, joined)
        return CommandResult(127, "", "sh: 1: command not found", joined)


def judge_with(check: str, ev: Evidence, **params: Any) -> Judgement:
    plugin = CHECKS.get(check)
    return plugin().judge(ev, plugin.Params.model_validate(params))  # type: ignore[attr-defined]
