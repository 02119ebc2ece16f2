#!/usr/bin/env python3
"""Measure an exam session of N candidates on this host, through the CLI an instructor uses:
`session create`, `session up` (time until every lab is ready), `session start`, `session end
--no-grade` (access closed, every lab frozen), `session grade` (every frozen lab graded),
`session report`, then `session down` (always, also when a step fails).

Not a test: it prints figures (JSON with --json) to keep in the README, with the host's load
and the other labs running at the time (the machine may be shared). Memory: the host's
MemAvailable sampled every second (its lowest is the peak), and each lab's cgroup (v1:
memory.usage_in_bytes summed over the session's labs, memory.max_usage_in_bytes per lab).
Nobody works in the labs: every candidate is graded on the lab as handed out.

    python bench/bench_session.py                     # 12 candidates on compte-verrouille
    python bench/bench_session.py -n 2 --json
    python bench/bench_session.py --fit               # the largest N <= 12 admission accepts

If the admission check refuses N (the host is short of memory or disk), nothing is built:
the bench says so, or with --fit tries N-1, N-2... and reports the N it ran.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tai_labs.exam.store import ExamStore
from tai_labs.lab.store import Store
from tai_labs.providers import naming

MEMORY_CGROUP = Path("/sys/fs/cgroup/memory")


def since(start: float) -> float:
    return round(time.monotonic() - start, 1)


def tai(*args: str, timeout: float = 7200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tai_labs", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def must(step: str, out: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    if out.returncode != 0:
        said = f"{out.stdout.strip()}\n{out.stderr.strip()}".strip()
        raise RuntimeError(f"{step} failed ({out.returncode}):\n{said}")
    return out


def mem_available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def cgroup_mib(lab_id: str, what: str) -> float | None:
    path = MEMORY_CGROUP / naming.cgroup_lab_dir(lab_id) / what
    try:
        return round(int(path.read_text()) / 2**20, 1)
    except (OSError, ValueError):
        return None


class Sampler(threading.Thread):
    """Every second: MemAvailable, the session's labs' cgroup memory, the 1-min load."""

    def __init__(self, session: str) -> None:
        super().__init__(daemon=True)
        self.session = session
        self.stop = threading.Event()
        self.min_available = mem_available_mib()
        self.peak_labs = 0.0
        self.peak_load = os.getloadavg()[0]

    def run(self) -> None:
        exams = ExamStore()
        while not self.stop.wait(1.0):
            self.min_available = min(self.min_available, mem_available_mib())
            self.peak_load = max(self.peak_load, os.getloadavg()[0])
            try:
                labs = exams.lab_links(self.session).values()
            except Exception:  # the store is busy or the session gone: next second
                continue
            used = sum(cgroup_mib(lab, "memory.usage_in_bytes") or 0.0 for lab in labs)
            self.peak_labs = max(self.peak_labs, round(used, 1))


def host_now() -> dict[str, Any]:
    """The conditions: load, free memory, and the labs of this host not ours (shared host)."""
    labs = Store().labs()
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "mem_available_mib": mem_available_mib(),
        "labs_on_host": len(labs),
        "labs_on_host_by_status": {
            s: sum(1 for r in labs if r.status == s) for s in sorted({r.status for r in labs})
        },
    }


def roster(folder: Path, n: int, tag: str) -> Path:
    path = folder / "classe.csv"
    lines = ["nom;prenom;identifiant"]
    lines += [f"Banc;Candidat{chr(65 + i % 26)};bench{tag}-c{i + 1:02d}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_session(n: int, scenario: str, parallel: int | None, folder: Path) -> dict[str, Any]:
    tag = secrets.token_hex(2)
    name = f"bench-{tag}-{n}"
    figures: dict[str, Any] = {"session": name, "candidates": n, "scenario": scenario}
    must("create", tai("session", "create", name, "-s", scenario,
                       "--roster", str(roster(folder, n, tag)), "--duration", "2h"))  # fmt: skip
    sampler = Sampler(name)
    try:
        must("slips", tai("session", "slips", name, "-o", str(folder / "billets.html")))
        figures["host_before"] = host_now()
        sampler.start()
        up_args = ["session", "up", name, "--json"]
        if parallel is not None:
            up_args += ["--parallel", str(parallel)]
        start = time.monotonic()
        up = tai(*up_args)
        figures["up_s"] = since(start)
        if up.returncode != 0 and "cannot hold" in up.stderr:
            figures["refused"] = up.stderr.strip()
            return figures
        result = json.loads(must("up", up).stdout)
        figures["parallel"] = result.get("parallel")
        figures["admission"] = result.get("admission")
        figures["lab_up_s"] = sorted(
            lab["seconds"] for c in result["candidates"] for lab in c["labs"]
        )
        labs = list(ExamStore().lab_links(name).values())
        figures["lab_peak_mib"] = {
            lab: cgroup_mib(lab, "memory.max_usage_in_bytes") for lab in labs
        }
        figures["labs_now_mib"] = round(
            sum(cgroup_mib(lab, "memory.usage_in_bytes") or 0.0 for lab in labs), 1
        )
        figures["host_ready"] = host_now()
        must("start", tai("session", "start", name))
        start = time.monotonic()
        must("end", tai("session", "end", name, "--no-grade", "--parallel", str(parallel or 2)))
        figures["freeze_s"] = since(start)
        start = time.monotonic()
        graded = must("grade", tai("session", "grade", name, "--parallel", str(parallel or 2)))
        figures["grade_s"] = since(start)
        # Each candidate's line: `noté LOGIN : SCENARIO 0/10 (18 s)`.
        figures["grade_each_s"] = sorted(
            int(m) for m in re.findall(r"\((\d+) s\)$", graded.stdout, re.MULTILINE)
        )
        figures["host_graded"] = host_now()
        grid = json.loads(must("report", tai("session", "report", name, "-f", "json")).stdout)
        figures["graded_labs"] = sum(
            1 for row in grid["rows"] for cell in row["scenarios"] if cell["state"] == "notée"
        )
        return figures
    finally:
        sampler.stop.set()
        if sampler.is_alive():
            sampler.join()
        figures["min_mem_available_mib"] = sampler.min_available
        figures["peak_labs_mib"] = sampler.peak_labs
        figures["peak_load1"] = round(sampler.peak_load, 2)
        start = time.monotonic()
        down = tai("session", "down", name, "--force")
        figures["down_s"] = since(start)
        if down.returncode != 0:
            figures["down_error"] = down.stderr.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--candidates", type=int, default=12)
    parser.add_argument("--scenario", default="compte-verrouille")
    parser.add_argument("--parallel", type=int, help="labs built at once (default: session up's)")
    parser.add_argument("--fit", action="store_true", help="if refused, try fewer candidates")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    n = args.candidates
    tried: list[int] = []
    with tempfile.TemporaryDirectory(prefix="tai-labs-bench-session-") as tmp:
        while True:
            tried.append(n)
            figures = run_session(n, args.scenario, args.parallel, Path(tmp))
            if "refused" not in figures or not args.fit or n <= 1:
                break
            n -= 1
    figures["asked"] = args.candidates
    figures["refused_n"] = tried[:-1]
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{'command':28} python bench/bench_session.py -n {args.candidates}"
          f"{' --fit' if args.fit else ''}")  # fmt: skip
    for key, value in figures.items():
        print(f"{key:28} {value}")
    if "refused" in figures:
        sys.exit(2)


if __name__ == "__main__":
    main()
