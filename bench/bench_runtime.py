#!/usr/bin/env python3
"""Measure the lab runtime on this host: image builds, node start-up, parallel starts, memory.

Not a test: it prints figures (and JSON with --json) to record in docs/runtime.md.
Needs root, lxc, debootstrap, nftables and ssh. Everything it creates is cleaned up; the
regular image cache is only read (cold builds go to a temporary data folder).

    python bench/bench_runtime.py                 # all measures, 6 parallel nodes
    python bench/bench_runtime.py --skip-cold     # skip the cold image builds (~1-2 min)
    python bench/bench_runtime.py --nodes 10 --json
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tai_labs.images.builder import ImageBuilder
from tai_labs.images.store import BuiltImage
from tai_labs.locations import locations
from tai_labs.providers import cgroups, naming, network
from tai_labs.providers.base import NicSpec, NodeSpec
from tai_labs.providers.cleanup import cleanup_lab
from tai_labs.providers.keys import ensure_lab_keypair, known_hosts_line
from tai_labs.providers.lxc import LxcEngine


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    result = fn(*args, **kwargs)
    return time.monotonic() - started, result


# -- images ------------------------------------------------------------------------------


def bench_images(skip_cold: bool, fresh_debs: bool) -> dict[str, float]:
    figures: dict[str, float] = {}
    builder = ImageBuilder()
    figures["base_cached_s"], _ = timed(builder.build, "base")
    if skip_cold:
        return figures
    with tempfile.TemporaryDirectory(prefix="tai-labs-bench-") as tmp:
        cold = ImageBuilder(data=Path(tmp))
        if not fresh_debs:
            # Same .deb cache as the real builder: measures the build, not the download.
            cold.apt_cache = builder.apt_cache
        figures["base_cold_s"], _ = timed(cold.build, "base")
        figures["base_cached_again_s"], _ = timed(cold.build, "base")
        figures["router_layer_cold_s"], _ = timed(cold.build, "router")
    return figures


# -- nodes -------------------------------------------------------------------------------


class BenchLab:
    def __init__(self, image: BuiltImage) -> None:
        self.lab_id = naming.new_lab_id()
        self.net = network.create_lab_network(self.lab_id, ["lan"])
        self.engine = LxcEngine(self.lab_id)
        self.key, self.public = ensure_lab_keypair(locations().lab(self.lab_id), self.lab_id)
        self.image = image
        self.ips: dict[str, str] = {}
        self.known: dict[str, Path] = {}

    def create(self, count: int) -> list[str]:
        names = []
        for i in range(1, count + 1):
            name = f"{self.lab_id}-n{i}"
            spec = NodeSpec(
                name=name,
                hostname=f"n{i}",
                image=self.image.rootfs,
                memory_mib=256,
                management=NicSpec(
                    bridge=self.net.mgmt_bridge, name="eth0", address=self.net.node_mgmt_address(i)
                ),
                nics=(
                    NicSpec(
                        bridge=self.net.bridges["lan"],
                        name="eth1",
                        address=ipaddress.IPv4Interface(f"10.0.0.{i}/24"),
                    ),
                ),
                authorized_keys=(self.public,),
            )
            created = self.engine.create(spec)
            ip = str(self.net.node_mgmt_address(i).ip)
            self.ips[name] = ip
            known = locations().lab(self.lab_id) / f"known_hosts-{name}"
            known.write_text(known_hosts_line([ip], created.host_key) + "\n")
            self.known[name] = known
            names.append(name)
        return names

    def wait_ssh(self, name: str, deadline: float) -> None:
        """Until an SSH login (pinned host key) runs a command on the node."""
        ip = self.ips[name]
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((ip, 22), timeout=0.5) as sock:
                    if not sock.recv(64).startswith(b"SSH-"):
                        raise OSError("no banner")
            except OSError:
                time.sleep(0.05)
                continue
            res = subprocess.run(
                [
                    "ssh", "-i", str(self.key), "-o", "BatchMode=yes", "-o", "ConnectTimeout=3",
                    "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR",
                    "-o", f"UserKnownHostsFile={self.known[name]}", f"root@{ip}", "true",
                ],
                capture_output=True,
                check=False,
            )  # fmt: skip
            if res.returncode == 0:
                return
            time.sleep(0.05)
        raise TimeoutError(f"{name} not reachable by SSH")

    def start_to_ssh(self, name: str) -> float:
        started = time.monotonic()
        self.engine.start(name, wait=False)
        self.wait_ssh(name, started + 60)
        return time.monotonic() - started

    def memory(self, name: str) -> dict[str, float]:
        rel = naming.cgroup_container_dir(self.lab_id, name)
        mib = 1024 * 1024
        for top in cgroups.dirs_of(rel):
            usage = top / "memory.usage_in_bytes"
            if usage.exists():  # cgroup v1
                stat = dict(line.split() for line in (top / "memory.stat").read_text().splitlines())
                return {
                    "usage_mib": int(usage.read_text()) / mib,
                    "rss_mib": int(stat["total_rss"]) / mib,
                    "cache_mib": int(stat["total_cache"]) / mib,
                }
            current = top / "memory.current"
            if current.exists():  # cgroup v2
                stat = dict(line.split() for line in (top / "memory.stat").read_text().splitlines())
                return {
                    "usage_mib": int(current.read_text()) / mib,
                    "rss_mib": int(stat["anon"]) / mib,
                    "cache_mib": int(stat["file"]) / mib,
                }
        return {}

    def close(self) -> None:
        cleanup_lab(self.lab_id)


def bench_nodes(image: BuiltImage, parallel: int, settle: float) -> dict[str, object]:
    figures: dict[str, object] = {}
    lab = BenchLab(image)
    try:
        # Sequential: one node at a time, three runs.
        names = lab.create(3)
        singles = []
        for name in names:
            singles.append(lab.start_to_ssh(name))
        figures["single_start_to_ssh_s"] = [round(s, 2) for s in singles]
        first = names[0]
        lab.engine.stop(first)
        started = time.monotonic()
        lab.engine.start(first, wait=True)
        figures["single_start_to_systemd_running_s"] = round(time.monotonic() - started, 2)
        stop_s, _ = timed(lab.engine.stop, first)
        figures["stop_s"] = round(stop_s, 2)
    finally:
        lab.close()

    lab = BenchLab(image)
    try:
        names = lab.create(parallel)
        times: dict[str, float] = {}
        errors: list[str] = []
        started = time.monotonic()

        def one(name: str) -> None:
            try:
                times[name] = lab.start_to_ssh(name)
            except Exception as exc:  # collected and reported below
                errors.append(f"{name}: {exc}")

        threads = [threading.Thread(target=one, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        figures["parallel_nodes"] = parallel
        figures["parallel_all_ssh_ready_s"] = round(time.monotonic() - started, 2)
        figures["parallel_errors"] = errors
        if times:
            figures["parallel_per_node_max_s"] = round(max(times.values()), 2)
        time.sleep(settle)
        mem = [lab.memory(n) for n in names]
        mem = [m for m in mem if m]
        if mem:
            for key in ("usage_mib", "rss_mib", "cache_mib"):
                figures[f"idle_{key}_median"] = round(statistics.median(m[key] for m in mem), 1)
        started = time.monotonic()
        for name in names:
            lab.engine.destroy(name)
        destroy_s = time.monotonic() - started
        figures["destroy_all_s"] = round(destroy_s, 2)
    finally:
        lab.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=6, help="nodes started in parallel")
    parser.add_argument("--skip-cold", action="store_true", help="skip cold image builds")
    parser.add_argument(
        "--fresh-debs", action="store_true", help="cold builds download every .deb again"
    )
    parser.add_argument("--settle", type=float, default=10.0, help="seconds idle before memory")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()

    results: dict[str, object] = {}
    results["images"] = bench_images(args.skip_cold, args.fresh_debs)
    image = ImageBuilder().build("base")
    results["nodes"] = bench_nodes(image, args.nodes, args.settle)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for section, figures in results.items():
            print(f"[{section}]")
            for key, value in figures.items():  # type: ignore[attr-defined]
                if isinstance(value, float):
                    value = round(value, 2)
                print(f"  {key:34} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
