"""``linux.services_kept``: the judge on what the host read of a real client node (captured),
and ``identify`` on the same answers replayed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from graderkit import judge_with

from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Evidence, Verdict
from tai_labs.sessions.base import CommandResult, CommandSession, SessionError

CHECK = "linux.services_kept"
# One file of every output by key, not captured/*.json (one command each, their layout).
CAPTURED = Path(__file__).parent / "services_kept_pc1.json"
#: What identify recorded on that node at exam start (ran, enabled, not a oneshot or timer's).
AT_START = "cron.service cups.service ssh.service systemd-networkd.service"
SLICE = "/sys/fs/cgroup/systemd/system.slice"


def outputs() -> dict[str, dict[str, Any]]:
    return dict(json.loads(CAPTURED.read_text())["outputs"])


def result(row: dict[str, Any]) -> CommandResult:
    return CommandResult(row["rc"], row["stdout"], row["stderr"], row["argv"], source=row["source"])


def ev_of(rows: dict[str, dict[str, Any]], baseline: str | None = AT_START) -> Evidence:
    ev = Evidence()
    for key, row in rows.items():
        ev.add(result(row))
        ev.facts.setdefault("outputs", {})[key] = len(ev.commands) - 1
    if baseline is not None:
        ev.baseline = {"services": baseline}
    return ev


def stopped(rows: dict[str, dict[str, Any]], unit: str) -> None:
    """As the host sees a stopped unit: systemd removed its cgroup."""
    rows["slice"]["stdout"] = rows["slice"]["stdout"].replace(f"{unit}\n", "")
    del rows[f"procs:{unit}"]


def test_as_at_exam_start_it_holds_and_says_what_it_read() -> None:
    j = judge_with(CHECK, ev_of(outputs()))
    assert j.verdict is Verdict.PASS
    assert "4 service(s)" in j.why_fr and "lu depuis l'hôte" in j.why_fr
    assert j.decisive == AT_START


def test_a_stopped_service_fails_naming_it() -> None:
    rows = outputs()
    stopped(rows, "cron.service")
    j = judge_with(CHECK, ev_of(rows))
    assert j.verdict is Verdict.FAIL
    assert j.why_fr == (
        "service(s) arrêté(s) depuis le début de l'épreuve : cron.service : dommage collatéral"
    )


def test_an_empty_cgroup_is_a_stopped_service() -> None:
    rows = outputs()
    rows["procs:cups.service"]["stdout"] = ""
    j = judge_with(CHECK, ev_of(rows))
    assert j.verdict is Verdict.FAIL and "cups.service" in j.why_fr


def test_a_disabled_or_masked_service_fails_though_it_runs() -> None:
    rows = outputs()
    for key in ("wants:multi-user.target.wants", "wants:printer.target.wants"):
        rows[key]["stdout"] = rows[key]["stdout"].replace("cups.service\n", "")
    j = judge_with(CHECK, ev_of(rows))
    assert j.verdict is Verdict.FAIL
    assert "désactivé(s) ou masqué(s) au démarrage : cups.service" in j.why_fr
    assert "arrêté" not in j.why_fr
    rows = outputs()
    rows["etc"]["stdout"] += "ssh.service\n"
    rows["link:ssh.service"] = {**rows["link:sshd.service"], "stdout": "/dev/null\n"}
    j = judge_with(CHECK, ev_of(rows))
    assert j.verdict is Verdict.FAIL and "masqué(s) au démarrage : ssh.service" in j.why_fr


def test_a_node_side_answer_proves_nothing() -> None:
    # A VM, or a channel the host did not answer: its root could print any listing.
    rows = outputs()
    rows["slice"]["source"] = "node"
    j = judge_with(CHECK, ev_of(rows))
    assert j.verdict is Verdict.ERROR and "depuis l'hôte" in j.why_fr
    # A cgroup.procs read node-side does not make a stopped service run.
    rows = outputs()
    rows["procs:cron.service"]["source"] = "node"
    assert judge_with(CHECK, ev_of(rows)).verdict is Verdict.FAIL


def test_a_node_whose_cgroups_are_gone_is_no_verdict() -> None:
    # A stopped container has no system.slice in the host's hierarchy: nothing to judge,
    # not "every service stopped".
    rows = outputs()
    gone = f"ls: cannot access {SLICE}: No such file or directory\n"
    rows["slice"] = {**rows["slice"], "rc": 2, "stdout": "", "stderr": gone}
    assert judge_with(CHECK, ev_of(rows)).verdict is Verdict.ERROR


def test_without_an_exam_start_record_there_is_no_verdict() -> None:
    j = judge_with(CHECK, ev_of(outputs(), baseline=None))
    assert j.verdict is Verdict.ERROR and "début de l'épreuve" in j.why_fr


def test_a_unit_the_scenario_names_is_left_to_it() -> None:
    rows = outputs()
    stopped(rows, "cups.service")
    assert judge_with(CHECK, ev_of(rows), words=["lpadmin", "cups"]).verdict is Verdict.PASS
    assert judge_with(CHECK, ev_of(rows), words=["lpadmin"]).verdict is Verdict.FAIL


def test_an_empty_record_passes_saying_so() -> None:
    j = judge_with(CHECK, ev_of(outputs(), baseline=""))
    assert j.verdict is Verdict.PASS and "rien à garder" in j.why_fr


class Replay(CommandSession):
    """The captured host answers by command line, and unit files as the host reads them."""

    shell = "posix"
    transport = "fake"

    def __init__(self, rows: dict[str, dict[str, Any]], files: dict[str, str]) -> None:
        self.by_argv = {row["argv"]: result(row) for row in rows.values()}
        self.files = files

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        command = " ".join(argv)
        if command in self.by_argv:
            return self.by_argv[command]
        if argv[0] == "head" and argv[-1] in self.files:
            return CommandResult(0, self.files[argv[-1]], "", command, source="host")
        if argv[0] == "head":
            return CommandResult(1, "", "head: No such file or directory\n", command, "host")
        return CommandResult(127, "", "not captured\n", command)


UNIT = "[Unit]\nDescription=x\n\n[Service]\nType={}\nExecStart=/usr/sbin/x\n"
WANTS = "/etc/systemd/system/multi-user.target.wants/"


def unit_files(**types: str) -> dict[str, str]:
    files = {WANTS + u: UNIT.format("simple") for u in AT_START.split()}
    files |= {WANTS + u: UNIT.format(t) for u, t in types.items()}
    return files


def identify(rows: dict[str, dict[str, Any]], files: dict[str, str], **params: Any) -> str:
    plugin = CHECKS.get(CHECK)
    found = plugin().identify(Replay(rows, files), plugin.Params.model_validate(params))
    return found["services"]


def test_identify_keeps_what_runs_enabled_and_stays() -> None:
    # console-getty, dbus, journald, logind run but are not enabled (static): not kept.
    assert identify(outputs(), unit_files()) == AT_START


def test_identify_leaves_out_oneshots_timer_services_and_named_units() -> None:
    files = unit_files(**{"cron.service": "oneshot"})
    assert "cron.service" not in identify(outputs(), files).split()
    rows = outputs()
    rows["wants:timers.target.wants"]["stdout"] += "ssh-check.timer\n"
    files = unit_files() | {
        "/etc/systemd/system/timers.target.wants/ssh-check.timer": "[Timer]\nUnit=ssh.service\n"
    }
    assert "ssh.service" not in identify(rows, files).split()
    assert identify(outputs(), unit_files(), words=["cups", "restart"]).split() == [
        "cron.service",
        "ssh.service",
        "systemd-networkd.service",
    ]


def test_identify_refuses_what_the_host_did_not_read() -> None:
    rows = outputs()
    rows["etc"]["source"] = "node"
    with pytest.raises(SessionError, match="not recorded"):
        identify(rows, unit_files())
