"""A whole exam day of three candidates on ``securiser-poste`` (a router and a client, two
containers per lab), through the CLI only: `session create`, `slips`, `up --parallel 3`,
`start`, the candidates' work, `end` (access closed, labs frozen and graded), `report` (JSON
and CSV), `grade` again after someone changed a lab past the end, and `down`.

The three candidates, as a jury meets them:

- Chloé applies the scenario's reference solution: every check passes, 19/19, C4 acquise;
- Léo does nothing: 0/19, C4 non acquise;
- Inès applies it too, then "tightens" the firewall and drops its SSH rule: the workstation
  is hardened but its remote administration is cut. Only ``firewall-ssh`` (2 points, C4.1)
  fails: 17/19, C4 still acquise.

Their work is done as root in their nodes (the lab's exec channel, as their gateway shell
would), the solution's steps rendered for each one's own variant.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from labtools import leftovers, tai

from tai_labs.actions.base import run_step
from tai_labs.exam.fleet import session_labs
from tai_labs.lab.runtime import open_lab

pytestmark = pytest.mark.e2e

SCENARIO = "securiser-poste"
MAX = 19.0  # 3 + 3 + 3 + 2 + 2 + 3 + 3: every check of the scenario
SSH_RULE = "tcp dport 22 accept"


@dataclass
class Day:
    name: str
    logins: dict[str, str]  # role -> login
    labs: dict[str, str]  # login -> lab id
    grid: dict[str, Any]
    csv_rows: list[dict[str, str]]
    folder: Path
    seconds: dict[str, float]


def solve(lab_id: str) -> None:
    """The scenario's reference solution, as rendered for this lab's variant."""
    lab = open_lab(lab_id)
    with lab.sessions:
        for step in lab.loaded.scenario.solution.steps:
            assert step.target is not None
            run_step(lab.context(step.target), step)


def sh(lab_id: str, script: str) -> str:
    done = open_lab(lab_id).exec("pc1", ["sh", "-c", script], timeout=60)
    assert done.ok, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Day]:
    tmp = tmp_path_factory.mktemp("exam-day")
    suffix = secrets.token_hex(2)
    name = f"i14-day-{suffix}"
    logins = {role: f"i14day-{role}{suffix}" for role in ("fix", "idle", "harm")}
    roster = tmp / "classe.csv"
    roster.write_text(
        "nom;prenom;identifiant\n"
        f"Martin;Chloé;{logins['fix']}\nDupont;Léo;{logins['idle']}\n"
        f"N'Diaye;Inès;{logins['harm']}\n",
        encoding="utf-8",
    )
    seconds: dict[str, float] = {}

    def timed(step: str, *args: str, timeout: float = 900) -> Any:
        t0 = time.monotonic()
        out = tai(*args, timeout=timeout)
        seconds[step] = round(time.monotonic() - t0, 1)
        return out

    tai("session", "create", name, "-s", SCENARIO, "--roster", str(roster), "--duration", "1h")
    try:
        tai("session", "slips", name, "-o", str(tmp / "billets.html"))
        up = json.loads(timed("up", "session", "up", name, "--parallel", "3", "--json",
                              timeout=1800).stdout)  # fmt: skip
        assert up["ok"] and up["state"] == "up", up
        labs = {s.login: s.lab_id for s in session_labs(name)}
        assert set(labs) == set(logins.values())
        timed("start", "session", "start", name)

        solve(labs[logins["fix"]])
        harm = labs[logins["harm"]]
        solve(harm)
        sh(harm, f"sed -i '/{SSH_RULE}/d' /etc/nftables.conf && systemctl restart nftables")
        assert SSH_RULE not in sh(harm, "nft list ruleset")

        ended = timed("end", "session", "end", name, "--parallel", "3", timeout=1800)
        assert "terminée" in ended.stdout, ended.stdout
        grid = json.loads(tai("session", "report", name, "-f", "json").stdout)
        folder = tmp / "rapports"
        tai("session", "report", name, "-f", "csv", "-o", str(tmp / "grille.csv"),
            "--candidates", str(folder))  # fmt: skip
        text = (tmp / "grille.csv").read_bytes().decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
        yield Day(name, logins, labs, grid, rows, folder, seconds)
    finally:
        tai("session", "down", name, "--force", check=False, timeout=900)


def _row(day: Day, role: str) -> dict[str, Any]:
    [row] = [r for r in day.grid["rows"] if r["login"] == day.logins[role]]
    return row


def _csv(day: Day, role: str) -> dict[str, str]:
    [row] = [r for r in day.csv_rows if r["Identifiant"] == day.logins[role]]
    return row


def _verdicts(day: Day, role: str) -> dict[str, str]:
    path = day.folder / "candidats" / day.logins[role] / f"{SCENARIO}.json"
    return {c["id"]: c["verdict"] for c in json.loads(path.read_text())["checks"]}


def test_the_reference_fix_gets_every_point(day: Day) -> None:
    row = _row(day, "fix")
    [cell] = row["scenarios"]
    assert (cell["state"], cell["lab"]) == ("notée", day.labs[day.logins["fix"]])
    assert (row["points"], row["max_points"], row["complete"]) == (MAX, MAX, True)
    assert [(c["competence"], c["points"], c["status"]) for c in row["competences"]] == [
        ("C4", MAX, "acquise")
    ]
    assert set(_verdicts(day, "fix").values()) == {"pass"}
    line = _csv(day, "fix")
    assert (line["Prénom"], line["Total points"], line["Total sur"]) == ("Chloé", "19", "19")
    assert line["Total · C4"] == "acquise"


def test_doing_nothing_gets_nothing(day: Day) -> None:
    row = _row(day, "idle")
    [cell] = row["scenarios"]
    assert cell["state"] == "notée"  # graded, not missing: a zero the jury can sign
    assert (row["points"], row["max_points"]) == (0.0, MAX)
    assert [(c["competence"], c["status"]) for c in row["competences"]] == [("C4", "non acquise")]
    verdicts = _verdicts(day, "idle")
    assert verdicts.pop("firewall-ssh") == "skipped"  # judged only once the policy blocks
    kept = {k: verdicts.pop(k) for k in list(verdicts) if k.startswith("keep-")}
    assert set(verdicts.values()) == {"fail"}
    assert kept and set(kept.values()) == {"pass"}  # nothing broken: invariants hold, earn 0
    line = _csv(day, "idle")
    assert (line["Total points"], line["Total · C4"]) == ("0", "non acquise")


def test_cutting_ssh_while_hardening_costs_exactly_that_checks_points(day: Day) -> None:
    row = _row(day, "harm")
    assert (row["points"], row["max_points"]) == (MAX - 2, MAX)
    assert [(c["competence"], c["points"], c["status"]) for c in row["competences"]] == [
        ("C4", MAX - 2, "acquise")
    ]
    verdicts = _verdicts(day, "harm")
    assert {i for i, v in verdicts.items() if v != "pass"} == {"firewall-ssh"}
    assert verdicts["firewall-ssh"] == "fail"
    line = _csv(day, "harm")
    assert (line["Prénom"], line["Total points"], line["Total · C4"]) == ("Inès", "17", "acquise")
    assert line[f"{SCENARIO} · points"] == "17"


def test_work_after_the_end_changes_no_grade(day: Day) -> None:
    """Léo's pc1 started by hand after the end and his account taken out of sudo: graded
    again from the frozen state, the grid does not move (tests/integration/
    test_exam_freeze.py proves the verdicts one by one)."""
    lab = open_lab(day.labs[day.logins["idle"]])
    lab.engine.start(lab.node_plan("pc1").resource)
    user = lab.loaded.variables["user"]["login"]
    assert "sudo" not in sh(lab.id, f"gpasswd -d {user} sudo >/dev/null && id -nG {user}").split()
    t0 = time.monotonic()
    tai("session", "grade", day.name, "--candidate", day.logins["idle"], timeout=900)
    day.seconds["grade again (1 candidate)"] = round(time.monotonic() - t0, 1)
    again = json.loads(tai("session", "report", day.name, "-f", "json").stdout)
    assert [(r["login"], r["points"], r["competences"]) for r in again["rows"]] == [
        (r["login"], r["points"], r["competences"]) for r in day.grid["rows"]
    ]


def test_zz_down_leaves_nothing(day: Day) -> None:
    print("exam day timings (s):", day.seconds)
    out = json.loads(tai("session", "down", day.name, "--json", timeout=900).stdout)
    assert out["record_removed"] and sorted(out["labs"]) == sorted(day.labs.values())
    for lab_id in day.labs.values():
        assert leftovers(lab_id) == []
