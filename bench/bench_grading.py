#!/usr/bin/env python3
"""Measure grading: a 30-check scenario graded by `tai-labs grade`, against the same commands
run one by one, each over a fresh SSH connection, in the same run and on the same lab.

Not a test: it prints figures (JSON with --json) to keep in the README. Needs root and what
`tai-labs up` needs; the lab it brings up is removed at the end.

    python bench/bench_grading.py [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import paramiko

from tai_labs.grading.runner import grade
from tai_labs.lab import lifecycle
from tai_labs.lab.runtime import Lab
from tai_labs.lab.sessions import SessionPool

SCENARIO = Path(__file__).resolve().parent / "scenarios" / "grading-30" / "scenario.yaml"


def fresh_ssh(lab: Lab, node: str, command: str) -> None:
    """One command over its own SSH connection (what a naive grader does)."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(lab.folder / "known_hosts"))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        str(lab.mgmt_address(node)),
        username="root",
        key_filename=str(lab.folder / "id_ed25519"),
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    try:
        _, stdout, _ = client.exec_command(command, timeout=30)
        stdout.channel.recv_exit_status()
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    lab = lifecycle.up(SCENARIO, candidate="bench", seed=0)
    try:
        graded, replayed, per_check = [], [], []
        report = None
        for _ in range(args.rounds):
            start = time.monotonic()
            with SessionPool(lab) as sessions:
                report = grade(lab.loaded.scenario, sessions, lab=lab.id, candidate="bench", seed=0)
            graded.append(time.monotonic() - start)
            per_check += [c.seconds for c in report.checks]
            commands = [(e.node, e.command) for c in report.checks for e in c.evidence]
            start = time.monotonic()
            for node, command in commands:
                fresh_ssh(lab, node, command)
            replayed.append(time.monotonic() - start)
        assert report is not None
        figures = {
            "checks": len(report.checks),
            "passed": sum(1 for c in report.checks if c.verdict.value == "pass"),
            "commands": sum(len(c.evidence) for c in report.checks),
            "transports": sorted({e.transport for c in report.checks for e in c.evidence}),
            "grade_s_median": round(statistics.median(graded), 2),
            "per_check_ms_median": round(1000 * statistics.median(per_check), 1),
            "fresh_ssh_one_by_one_s_median": round(statistics.median(replayed), 2),
            "ratio_grade_to_fresh_ssh": round(
                statistics.median(graded) / statistics.median(replayed), 2
            ),
            "rounds": args.rounds,
        }
    finally:
        lifecycle.down(lab.id)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
