#!/usr/bin/env python3
"""Measure a whole lab on this host: images, lab-ready time, memory per node, and how the
lab-ready time compares with starting its services one by one, measured in the same run.

Not a test: it prints figures (JSON with --json) to keep in the README. Needs root, lxc,
debootstrap and nftables. Everything it creates is removed; the image cache is only read
(cold builds go to a temporary data folder that shares the .deb cache).

    python bench/bench_lab.py                      # compte-verrouille: DC, router, client
    python bench/bench_lab.py --skip-cold --json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from tai_labs.images.builder import ImageBuilder
from tai_labs.lab import lifecycle
from tai_labs.lab.runtime import Lab, lab_folder, open_lab, render_for_lab
from tai_labs.lab.secrets import LabSecrets
from tai_labs.lab.store import Store
from tai_labs.providers import naming
from tai_labs.roles.registry import role_named
from tai_labs.scenario.catalog import find


def since(start: float) -> float:
    return round(time.monotonic() - start, 2)


def bench_images(names: list[str], skip_cold: bool) -> dict[str, float]:
    builder = ImageBuilder()
    figures: dict[str, float] = {}
    start = time.monotonic()
    for name in names:
        builder.build(name)
    figures["images_cached_s"] = since(start)
    if skip_cold:
        return figures
    with tempfile.TemporaryDirectory(prefix="tai-labs-bench-") as tmp:
        cold = ImageBuilder(data=Path(tmp))
        cold.apt_cache = builder.apt_cache  # measure building, not downloading
        start = time.monotonic()
        for name in names:
            cold.build(name)
        figures["images_cold_s"] = since(start)
    return figures


def node_memory_mib(lab: Lab) -> dict[str, float]:
    out = {}
    for node in lab.plan.nodes:
        path = Path("/sys/fs/cgroup/memory") / naming.cgroup_container_dir(lab.id, node.resource)
        usage = path / "memory.usage_in_bytes"
        if usage.is_file():
            out[node.name] = round(int(usage.read_text()) / 2**20, 1)
    return out


def bench_parallel_up(scenario: Path) -> tuple[dict[str, object], str]:
    """The real `up`: nodes boot in parallel, roles run in dependency groups."""
    steps: dict[str, float] = {}
    start = time.monotonic()

    def report(event: lifecycle.Event) -> None:
        if event.message == "started":
            steps[event.step] = time.monotonic()

    lab = lifecycle.up(scenario, candidate="bench", seed=0, report=report)
    total = since(start)
    durations = {}
    names = list(steps)
    for i, name in enumerate(names):
        end = steps[names[i + 1]] if i + 1 < len(names) else start + total
        durations[name] = round(end - steps[name], 2)
    time.sleep(3)  # let the nodes settle before reading their memory
    return {"lab_ready_s": total, "steps_s": durations, "memory_mib": node_memory_mib(lab)}, lab.id


def bench_one_by_one(scenario: Path) -> dict[str, object]:
    """The same lab's services started one at a time, each alone: boot, provision, ready."""
    store = Store()
    lab_id = naming.new_lab_id()
    folder = lab_folder(lab_id)
    folder.mkdir(parents=True, mode=0o700)
    loaded = render_for_lab(scenario, lab_id, "bench", 0, LabSecrets(folder))
    store.add_lab(lab_id, loaded.scenario.id, scenario, "bench", 0)
    per_node: dict[str, float] = {}
    try:
        lab = open_lab(lab_id, store)
        for step in (lifecycle.step_images, lifecycle.step_network, lifecycle.step_nodes):
            step(lab, lambda event: None)
        lab.secrets.get("device_password", 12)
        for group in lab.plan.groups:
            for node in group:
                start = time.monotonic()
                lab.engine.start(node.resource, wait=True, timeout=node.boot_timeout)
                role = role_named(node.role)
                ctx = lab.context(node.name)
                role.provision(ctx)
                role.wait_ready(ctx)
                per_node[node.name] = since(start)
    finally:
        lifecycle.down(lab_id, store=store)
    return {"one_by_one_s": per_node, "one_by_one_sum_s": round(sum(per_node.values()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="compte-verrouille")
    parser.add_argument("--skip-cold", action="store_true", help="skip cold image builds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    scenario = find(args.scenario).resolve()

    figures: dict[str, object] = {"scenario": args.scenario}
    probe, lab_id = bench_parallel_up(scenario)
    images = sorted({n.image for n in open_lab(lab_id).plan.nodes})
    start = time.monotonic()
    lifecycle.down(lab_id)
    figures["down_s"] = since(start)
    figures.update(probe)
    figures.update(bench_images(images, args.skip_cold))
    figures.update(bench_one_by_one(scenario))
    ready = float(figures["lab_ready_s"])  # type: ignore[arg-type]
    total = float(figures["one_by_one_sum_s"])  # type: ignore[arg-type]
    figures["ratio_lab_ready_to_sum"] = round(ready / total, 2)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        print(f"{key:24} {value}")


if __name__ == "__main__":
    main()
