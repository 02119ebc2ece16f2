"""The grading runner and reports, with stand-in checks and sessions (no lab)."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tai_labs.grading.base import CHECKS, Check
from tai_labs.grading.model import Evidence, Judgement, Verdict
from tai_labs.grading.runner import grade
from tai_labs.plugins import PluginParams
from tai_labs.reports import grading as render
from tai_labs.scenario.loader import load_scenario
from tai_labs.sessions.base import CommandResult, PinMismatchError, SessionError

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "errors"


class FileSays(Check["FileSays.Params", Any]):
    """Stand-in check: passes when the fake node's file says 'ok'."""

    name = "ad.user"  # replaces the real one for these tests only (see fixture)
    summary = "test"
    session = "command"

    class Params(PluginParams):
        login: str
        locked: bool | None = None
        enabled: bool | None = None

    def collect(self, session: Any, params: Any) -> Evidence:
        ev = Evidence()
        ev.add(session.run(["cat", f"/state/{params.login}"]))
        return ev

    def judge(self, evidence: Evidence, params: Any) -> Judgement:
        out = evidence.commands[0].stdout.strip()
        if out == "ok":
            return Judgement.passed("bon état", "good state", out)
        if out == "":
            return Judgement.error("sortie vide", "empty output")
        return Judgement.failed("mauvais état", "bad state", out)


class FakeSession:
    transport = "fake"

    def __init__(self, files: dict[str, str], reachable: bool) -> None:
        self.files = files
        self.reachable = reachable

    def run(self, argv: list[str], **_: Any) -> CommandResult:
        if not self.reachable:
            raise SessionError("no route to host")
        return CommandResult(0, self.files.get(argv[1], ""), "", " ".join(argv))


class FakeSessions:
    def __init__(self, nodes: dict[str, FakeSession]) -> None:
        self.nodes = nodes
        self.asked: list[tuple[str, str]] = []

    def get(self, node: str, kind: str) -> FakeSession:
        self.asked.append((node, kind))
        return self.nodes[node]


@pytest.fixture
def fake_check() -> Iterator[None]:
    real = CHECKS.get("ad.user")
    CHECKS._group.items["ad.user"] = FileSays
    yield
    CHECKS._group.items["ad.user"] = real


@pytest.fixture
def scenario(tmp_path: Path) -> Any:
    import shutil

    shutil.copytree(GOLDEN / "dependency-cycle", tmp_path / "case")
    shutil.copytree(GOLDEN / "_topologies", tmp_path / "_topologies")
    file = tmp_path / "case" / "scenario.yaml"
    # break the cycle: enabled depends on unlocked only
    text = file.read_text().replace("    depends_on: [enabled]\n", "", 1)
    file.write_text(text)
    return load_scenario(file).scenario


def run(scenario: Any, files: dict[str, str], reachable: bool = True) -> Any:
    sessions = FakeSessions({"dc1": FakeSession(files, reachable), "pc1": FakeSession({}, True)})
    return grade(scenario, sessions, lab="abc123", candidate="alice", seed=1)


def test_pass_fail_and_points(fake_check: None, scenario: Any) -> None:
    report = run(scenario, {"/state/jdupont": "ok"})
    assert [c.verdict for c in report.checks] == [Verdict.PASS, Verdict.PASS]
    assert report.points == report.max_points == 3
    assert report.exit_code == 0
    assert report.competences[0].acquired


def test_a_failed_prerequisite_skips_its_dependants(fake_check: None, scenario: Any) -> None:
    report = run(scenario, {"/state/jdupont": "locked"})
    assert [c.verdict for c in report.checks] == [Verdict.FAIL, Verdict.SKIPPED]
    assert report.checks[1].points == 0
    assert "« Compte déverrouillé »" in report.checks[1].why_fr
    assert report.checks[0].message == "ko"  # the scenario's French fail message
    assert report.checks[0].decisive == "locked"
    assert report.exit_code == 1
    assert not report.competences[0].acquired


def test_unreachable_or_empty_is_error_never_pass(fake_check: None, scenario: Any) -> None:
    report = run(scenario, {}, reachable=False)
    assert report.checks[0].verdict is Verdict.ERROR
    assert "injoignable" in report.checks[0].message
    assert report.exit_code == 3
    report = run(scenario, {"/state/jdupont": ""})
    assert report.checks[0].verdict is Verdict.ERROR


def test_a_certificate_other_than_the_pinned_one_is_error_never_pass(
    fake_check: None, scenario: Any
) -> None:
    class Impostor(FakeSession):
        def run(self, argv: list[str], **_: Any) -> CommandResult:
            raise PinMismatchError("dc1: LDAPS: the TLS certificate is not the one pinned")

    sessions = FakeSessions({"dc1": Impostor({"/state/jdupont": "ok"}, True)})
    report = grade(scenario, sessions, lab="abc123", candidate="alice", seed=1)
    assert report.checks[0].verdict is Verdict.ERROR
    assert "identité non vérifiée" in report.checks[0].message
    assert report.exit_code == 3


def test_only_and_unknown_checks(fake_check: None, scenario: Any) -> None:
    sessions = FakeSessions({"dc1": FakeSession({"/state/jdupont": "ok"}, True)})
    report = grade(scenario, sessions, lab="l", candidate="c", seed=0, only=["enabled"])
    assert [c.id for c in report.checks] == ["enabled"]
    with pytest.raises(Exception, match="no check nope"):
        grade(scenario, sessions, lab="l", candidate="c", seed=0, only=["nope"])


def test_reports_json_junit_html(fake_check: None, scenario: Any) -> None:
    report = run(scenario, {"/state/jdupont": "locked"})
    data = json.loads(render.to_json(report))
    assert data["schema_version"] == 1
    assert data["checks"][0]["verdict"] == "fail"
    assert data["checks"][0]["evidence"][0]["command"] == "cat /state/jdupont"
    suite = ET.fromstring(render.to_junit(report))
    assert (
        suite.get("tests") == "2" and suite.get("failures") == "1" and suite.get("skipped") == "1"
    )
    assert suite.find("testcase/failure") is not None
    html = render.to_html(report)
    assert "non acquise" in html and "Critère C6.4" in html and "alice" in html
    assert "cat /state/jdupont" in html
    assert data["checks"][0]["evidence"][0]["source"] == "node"
    assert "fake · côté nœud] $ cat /state/jdupont" in html
    host_read = (
        report.checks[0].evidence[0].model_copy(update={"source": "host", "transport": "rootfs"})
    )
    shown = report.model_copy(
        update={"checks": [report.checks[0].model_copy(update={"evidence": [host_read]})]}
    )
    assert "rootfs · hôte] $ cat /state/jdupont" in render.to_html(shown)
    # Self-contained: nothing fetched from elsewhere when a jury opens or prints it.
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_evidence_read_over_a_fallback_says_so_in_every_report(
    fake_check: None, scenario: Any
) -> None:
    """The exec channel standing in for SSH after a host-key mismatch: JSON, JUnit and the
    French jury report all show it, beside the evidence it gave."""
    fallback = FakeSession({"/state/jdupont": "ok"}, True)
    fallback.transport = "exec"
    fallback.fallback = "fallback: host key mismatch"  # type: ignore[attr-defined]
    report = grade(
        scenario,
        FakeSessions({"dc1": fallback}),
        lab="abc123",
        candidate="alice",
        seed=1,
    )
    assert report.checks[0].verdict is Verdict.PASS  # the node's state, read out of band
    data = json.loads(render.to_json(report))
    item = data["checks"][0]["evidence"][0]
    assert (item["transport"], item["fallback"]) == ("exec", "fallback: host key mismatch")
    assert "via exec, fallback: host key mismatch]" in render.to_junit(report)
    text = html.unescape(render.to_html(report))
    assert "clé d'hôte SSH du nœud n'est pas celle enregistrée" in text
    assert "[dc1 · exec · fallback: host key mismatch · côté nœud]" in text
    # Evidence over the session asked for carries no such note.
    plain = run(scenario, {"/state/jdupont": "ok"})
    assert json.loads(render.to_json(plain))["checks"][0]["evidence"][0]["fallback"] == ""
    assert "Attention : preuves lues" not in render.to_html(plain)
