#!/usr/bin/env python3
"""Measure `tai-labs selftest` on a subset of the catalogue, one lab at a time and N at a
time (`--parallel N`), one after the other in one run: wall time, peak memory, all passed.

Not a test: it prints a table (JSON with --json) to keep in the README, with the host's load
before and after each run (the machine may be shared). Memory, sampled every second: the
host's MemAvailable (its lowest during the run against its value before: what the run took,
other work included), and the memory cgroups of this run's labs (found as the cgroups of the
selftest process's descendants: each container's processes descend from its `lxc-start`;
VM nodes, children of libvirtd, are not counted, so the default subset has none).

    python bench/bench_selftest.py                        # 1, 2, 3 at a time, default subset
    python bench/bench_selftest.py --parallel 1 2 compte-verrouille securiser-poste

The progress lines of each run go to ``--logs`` (``out/selftest-parallel-N.log``).
Bounded: each run has --timeout seconds; past it, Ctrl-C (SIGINT) lets the selftest bring its
labs down, and a run that still does not end is killed and its labs removed with `down`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

#: Labs with and without a Samba DC, of 2 to 5 nodes; 6 labs (poste-client-boutique has 2
#: variants). No VM node: its memory would not be counted (see above).
SUBSET = (
    "securiser-poste",
    "poste-client-boutique",
    "compte-verrouille",
    "partage-service",
    "route-site-distant",
)
MEMORY_CGROUP = Path("/sys/fs/cgroup/memory")


def mem_available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def _stat(pid: str) -> tuple[int, str] | None:
    """(parent pid, memory cgroup path) of a process, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
        groups = Path(f"/proc/{pid}/cgroup").read_text(errors="replace")
    except OSError:
        return None
    ppid = int(stat.rsplit(")", 1)[1].split()[1])
    memory = next((g.split(":", 2)[2] for g in groups.splitlines() if ":memory:" in g), "")
    return ppid, memory


def lab_ids_under(root: int) -> set[str]:
    """Lab ids of the memory cgroups (/tai-labs/LAB/...) of ``root``'s descendants."""
    procs = {p: s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(p)) is not None}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(int(pid))
    labs, todo = set(), [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        parts = procs.get(str(pid), (0, ""))[1].strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "tai-labs":
            labs.add(parts[1])
    return labs


def cgroup_mib(lab: str) -> float:
    try:
        return int((MEMORY_CGROUP / "tai-labs" / lab / "memory.usage_in_bytes").read_text()) / 2**20
    except (OSError, ValueError):
        return 0.0


class Sampler(threading.Thread):
    """Every second: MemAvailable, this run's labs' memory, the tool's own RSS, the load."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.labs: set[str] = set()
        self.min_available = mem_available_mib()
        self.peak_labs = 0.0
        self.peak_rss = 0.0
        self.peak_load = os.getloadavg()[0]

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.min_available = min(self.min_available, mem_available_mib())
            self.peak_load = max(self.peak_load, os.getloadavg()[0])
            now = lab_ids_under(self.pid)
            self.labs |= now
            self.peak_labs = max(self.peak_labs, sum(cgroup_mib(lab) for lab in now))
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                continue
            rss = next((ln.split()[1] for ln in status.splitlines() if ln.startswith("VmRSS")), 0)
            self.peak_rss = max(self.peak_rss, int(rss) / 1024)


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run_selftest(parallel: int, scenarios: list[str], timeout: float, logs: Path) -> dict[str, Any]:
    argv = [sys.executable, "-m", "tai_labs", "selftest", "--json", "--parallel", str(parallel)]
    figures: dict[str, Any] = {"parallel": parallel, "load_before": load()}
    available_before = mem_available_mib()
    start = time.monotonic()
    log = logs / f"selftest-parallel-{parallel}.log"
    figures["log"] = str(log)
    with open(log, "w") as err:  # the progress lines: what failed, and why
        proc = subprocess.Popen([*argv, *scenarios], stdout=subprocess.PIPE, stderr=err, text=True)
    sampler = Sampler(proc.pid)
    sampler.start()
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # as Ctrl-C: the selftest brings its labs down
        try:
            out, _ = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        figures["timed_out"] = True
    finally:
        sampler.stop.set()
        sampler.join()
    figures["wall_s"] = round(time.monotonic() - start, 1)
    figures["load_after"] = load()
    figures["peak_load1"] = round(sampler.peak_load, 1)
    figures["labs"] = sorted(sampler.labs)
    figures["peak_labs_mib"] = round(sampler.peak_labs)
    figures["peak_tool_rss_mib"] = round(sampler.peak_rss)
    figures["mem_taken_mib"] = round(available_before - sampler.min_available)
    try:  # the JSON, then the closing line "selftest: N passed, M failed"
        results, _ = json.JSONDecoder().raw_decode(out.lstrip())
    except ValueError:
        results = []
    figures["passed"] = sum(1 for r in results if r["ok"])
    figures["proven"] = len(results)
    # Against the wall time: how many labs were at work at once, on average.
    figures["labs_s"] = round(sum(r["seconds"] for r in results), 1)
    figures["failed"] = [
        f"{r['scenario']} {r['variant'] or ''} {p['name']}: {p['detail']}"
        for r in results
        for p in r["phases"]
        if not p["ok"]
    ]
    figures["exit"] = proc.returncode
    left = [lab for lab in sampler.labs if (MEMORY_CGROUP / "tai-labs" / lab).exists()]
    for lab in left:  # a run killed past its bound: nothing of it stays
        subprocess.run(
            [sys.executable, "-m", "tai_labs", "down", lab], capture_output=True, check=False
        )
    figures["left_behind"] = left
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=list(SUBSET))
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--timeout", type=float, default=3600, help="bound of each run (s)")
    parser.add_argument("--logs", type=Path, default=Path("out"), help="progress lines here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    runs = [run_selftest(n, args.scenarios, args.timeout, args.logs) for n in args.parallel]
    if args.json:
        print(json.dumps(runs, indent=2))
        return
    print(f"selftest of {', '.join(args.scenarios)}; {os.cpu_count()} cores")
    head = ("parallel", "wall", "passed", "labs peak", "tool RSS", "MemAvail drop", "load 1/5/15")
    print("{:>8} {:>8} {:>7} {:>10} {:>9} {:>14}  {}".format(*head))
    serial = next((r["wall_s"] for r in runs if r["parallel"] == 1), None)
    for r in runs:
        print(
            f"{r['parallel']:>8} {r['wall_s']:>7.0f}s {r['passed']:>3}/{r['proven']:<3}"
            f" {r['peak_labs_mib']:>7} MiB {r['peak_tool_rss_mib']:>5} MiB"
            f" {r['mem_taken_mib']:>10} MiB  {r['load_before']} -> {r['load_after']}"
            f" (peak {r['peak_load1']})"
            + (f"  x{serial / r['wall_s']:.2f}" if serial else "")
            + ("  TIMED OUT" if r.get("timed_out") else "")
            + (f"  LEFT {r['left_behind']}" if r["left_behind"] else "")
        )
        for failure in r["failed"]:
            print(f"{'':>8} FAIL {failure}")


if __name__ == "__main__":
    main()
