#!/usr/bin/env python3
"""Measure the VM engine on this host: VM image build, linked clones, boots, memory, snapshots.

Not a test: it prints figures (a table, or JSON with --json) to keep in the README and
docs/runtime.md. Needs root, libvirtd, qemu-img, genisoimage, lxc, debootstrap and nftables.
Everything runs in one throwaway lab (its own bridges, domains, containers, folder), removed
at the end even on error or Ctrl-C. The image cache is only read: the cold VM image build
goes to a temporary data folder that reuses the cached ``base`` tree and the .deb cache, so
it measures the ``base-vm`` layer and its disk, and labs running meanwhile keep their disks.

    python bench/bench_vm.py                  # everything, 4 VMs booted at once
    python bench/bench_vm.py --skip-cold --vms 2 --json
    python bench/bench_vm.py --json-file /tmp/bench-vm.json   # table, and the JSON saved
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tai_labs.images.builder import ImageBuilder
from tai_labs.images.progress import BuildProgress
from tai_labs.images.store import KEY_LEN, MANIFEST
from tai_labs.images.vm import VmImage, build_vm_image, vm_layer_name
from tai_labs.locations import locations
from tai_labs.providers import cgroups, naming, network
from tai_labs.providers.accel import virt_type
from tai_labs.providers.base import NicSpec, NodeSpec, VmBoot
from tai_labs.providers.cleanup import cleanup_lab
from tai_labs.providers.libvirt_conn import AgentError, agent_command, connect
from tai_labs.providers.libvirt_vm import LibvirtEngine
from tai_labs.providers.lxc import LxcEngine
from tai_labs.providers.mounts import safe_rmtree

VM_MEMORY_MIB = 512  # lab.plan.VM_MIN_MEMORY: what a lab gives its smallest VM
BOOT_TIMEOUT = 300.0  # per VM, generous: several guests share 2 cores under TCG
SNAP_ROUNDS = 3
OVERLAY_ROUNDS = 5
CONTAINER_ROUNDS = 3
# Node numbers (they name host interfaces): distinct per role so nothing collides.
N_SINGLE, N_UNBOUNDED, N_PARALLEL, N_CONTAINER = 1, 2, 10, 100


def since(start: float) -> float:
    return round(time.monotonic() - start, 2)


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    result = fn(*args, **kwargs)
    return round(time.monotonic() - started, 3), result


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- VM image ----------------------------------------------------------------------------


class StepClock:
    """Progress callback that keeps when each step of each build began."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, str, float]] = []  # (image, step, monotonic)

    def __call__(self, event: BuildProgress) -> None:
        if not self.marks or self.marks[-1][:2] != (event.image, event.step):
            self.marks.append((event.image, event.step, time.monotonic()))

    def phases(self, image: str, end: float) -> dict[str, float]:
        """Duration of each step of image; a repeated step name gets a #n suffix."""
        marks = [(s, t) for i, s, t in self.marks if i == image]
        out: dict[str, float] = {}
        for k, (step, t) in enumerate(marks):
            if step in ("done", "cached"):
                continue
            stop = marks[k + 1][1] if k + 1 < len(marks) else end
            key = step if step not in out else f"{step}#2"
            out[key] = round(stop - t, 2)
        return out


def _seeded_data(real: ImageBuilder, tmp: Path) -> ImageBuilder:
    """A data folder whose store holds only the cached ``base`` (by manifest) and shares
    the .deb cache, so building ``base-vm`` there builds that layer and its disk, cold."""
    base = real.build("base")
    seed = locations(tmp).images / f"base-{base.key[:KEY_LEN]}"
    seed.mkdir(parents=True)
    # The manifest keeps its path: the layer copies the real base tree (read only).
    (seed / MANIFEST).write_text(base.model_dump_json(indent=2))
    debs = locations(tmp).apt_cache
    debs.parent.mkdir(parents=True)
    debs.symlink_to(real.apt_cache)  # measure building, not downloading
    cold = ImageBuilder(data=tmp)
    assert cold.get("base").key == base.key
    return cold


def bench_image(skip_cold: bool) -> tuple[dict[str, object], VmImage]:
    figures: dict[str, object] = {}
    real = ImageBuilder()
    clock = StepClock()
    figures["real_store_call_s"], vm = timed(build_vm_image, "base", real, progress=clock)
    layer = vm_layer_name("base")
    figures["real_store_was_cached"] = (layer, "cached") in [m[:2] for m in clock.marks]
    if skip_cold:
        return figures, vm
    tmp = Path(tempfile.mkdtemp(prefix="tai-labs-bench-vm-"))
    try:
        cold = _seeded_data(real, tmp)
        clock = StepClock()
        started = time.monotonic()
        cold_vm = build_vm_image("base", cold, progress=clock, force=True)
        end = time.monotonic()
        marks = [(s, t) for i, s, t in clock.marks if i == layer]
        layer_done = next(t for s, t in marks if s == "done")
        disk_start = next(t for s, t in marks if s == "filesystem")
        qcow_start = next(t for s, t in marks if s == "qcow2")
        figures["cold_total_s"] = round(end - started, 2)
        figures["cold_layer_s"] = round(layer_done - started, 2)
        figures["cold_disk_s"] = round(end - disk_start, 2)
        figures["cold_disk_ext4_s"] = round(qcow_start - disk_start, 2)
        figures["cold_disk_qcow2_s"] = round(end - qcow_start, 2)
        figures["cold_steps_s"] = clock.phases(layer, end)
        figures["cached_second_call_s"], _ = timed(build_vm_image, "base", cold)
        disk = cold_vm.disk
        info = json.loads(
            subprocess.run(
                ["qemu-img", "info", "--output=json", str(disk)],
                capture_output=True, text=True, check=True,
            ).stdout
        )  # fmt: skip
        figures["disk_qcow2_mib"] = round(info["actual-size"] / 2**20, 1)
        figures["disk_virtual_gib"] = round(info["virtual-size"] / 2**30, 1)
    finally:
        safe_rmtree(tmp)  # unmount-safe: a Ctrl-C may leave the chroot's mounts
    return figures, vm


# -- VM nodes --------------------------------------------------------------------------------


def qemu_pid(name: str) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(Path(f"/run/libvirt/qemu/{name}.pid").read_text().strip())
    return None


def rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def qemu_accel_arg(pid: int | None) -> str:
    """The -accel / -machine accel part of QEMU's command line (shows tb-size)."""
    if pid is None:
        return ""
    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    for i, arg in enumerate(args):
        if arg == "-accel" and i + 1 < len(args):
            return args[i + 1]
    return next((a for a in args if "accel=" in a), "")


class VmLab:
    """One throwaway lab: its network, a VM engine and an LXC engine on it."""

    def __init__(self) -> None:
        self.lab_id = naming.new_lab_id()
        self.net: network.LabNetwork | None = None
        self.vm: LibvirtEngine | None = None
        self.lxc: LxcEngine | None = None
        self.threads: list[threading.Thread] = []

    def open(self) -> None:
        self.net = network.create_lab_network(self.lab_id, ["lan"])
        self.vm = LibvirtEngine(self.lab_id)
        self.lxc = LxcEngine(self.lab_id)

    def spec(
        self, number: int, image: Path, engine: str = "vm", boot: VmBoot | None = None
    ) -> NodeSpec:
        assert self.net is not None
        prefix = "v" if engine == "vm" else "c"
        return NodeSpec(
            name=f"{self.lab_id}-{prefix}{number}",
            hostname=f"{prefix}{number}",
            image=image,
            engine=engine,  # type: ignore[arg-type]
            boot=boot,
            number=number,
            memory_mib=VM_MEMORY_MIB,
            management=NicSpec(
                bridge=self.net.mgmt_bridge,
                name="eth0",
                address=self.net.node_mgmt_address(number),
            ),
            nics=(
                NicSpec(
                    bridge=self.net.bridges["lan"],
                    name="eth1",
                    address=ipaddress.IPv4Interface(f"10.0.0.{number}/24"),
                ),
            ),
        )

    def boot(self, spec: NodeSpec, unbounded_tb: bool = False) -> dict[str, object]:
        """create + start(wait=True), split: create, guest agent up, systemd done booting.

        start(wait=True) is start(wait=False) then wait_booted(); the agent is pinged here
        first only to see when it comes up (wait_booted's own ping then answers at once).
        """
        assert self.vm is not None
        out: dict[str, object] = {}
        started = time.monotonic()
        self.vm.create(spec)
        out["create_s"] = since(started)
        if unbounded_tb:
            drop_tb_cache(spec.name)
        self.vm.start(spec.name, wait=False)
        dom = connect().lookupByName(spec.name)
        deadline = started + BOOT_TIMEOUT
        while True:
            try:
                agent_command(dom, "guest-ping", timeout=2)
                break
            except AgentError:
                if time.monotonic() > deadline or not dom.isActive():
                    break  # wait_booted below reports why
                time.sleep(0.2)
        out["agent_up_s"] = since(started)
        out["systemd"] = self.vm.wait_booted(
            spec.name, timeout=max(1.0, deadline - time.monotonic())
        )
        out["define_to_ready_s"] = since(started)
        return out

    def close(self) -> list[str]:
        """Remove everything; return what is still on the host afterwards (should be [])."""
        if any(t.is_alive() for t in self.threads):
            # Interrupted mid-boot: power the domains off so the boot threads give up, let
            # them end (one may still be defining its domain), then clean up once more.
            cleanup_lab(self.lab_id)
            for t in self.threads:
                t.join(timeout=30)
        if self.vm is not None:
            for node in self.vm.nodes():
                with contextlib.suppress(Exception):
                    self.vm.destroy(node)
        cleanup_lab(self.lab_id)
        return leftovers(self.lab_id)


def drop_tb_cache(name: str) -> None:
    """Redefine the (not yet started) domain without <tcg><tb-cache>: QEMU's default."""
    conn = connect()
    root = ET.fromstring(conn.lookupByName(name).XMLDesc(0))
    features = root.find("features")
    tcg = features.find("tcg") if features is not None else None
    if tcg is None:
        raise RuntimeError("the domain has no <tcg> element (KVM host?)")
    features.remove(tcg)  # type: ignore[union-attr]
    conn.defineXML(ET.tostring(root, encoding="unicode"))
    if conn.lookupByName(name).XMLDesc(0).find("tb-cache") != -1:
        raise RuntimeError("libvirt kept the tb-cache element")


def leftovers(lab_id: str) -> list[str]:
    found = []
    virsh = subprocess.run(
        ["virsh", "-c", "qemu:///system", "list", "--all", "--name"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    found += [f"domain {n}" for n in virsh.split() if n.startswith(f"{lab_id}-")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [
        f"link {line.split(':')[1].strip()}"
        for line in links.splitlines()
        if f"{naming.IF_PREFIX}{lab_id}" in line
    ]
    if locations().lab(lab_id).exists():
        found.append(f"folder {locations().lab(lab_id)}")
    nft = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    if naming.nft_table(lab_id) in nft:
        found.append(f"nft table {naming.nft_table(lab_id)}")
    return found


def bench_overlay(lab: VmLab, vm: VmImage) -> dict[str, object]:
    """The linked clone alone: ``qemu-img create -b`` over the base disk, as create() does."""
    folder = locations().lab(lab.lab_id) / "bench-overlays"
    folder.mkdir(parents=True)
    times = []
    for i in range(OVERLAY_ROUNDS):
        path = folder / f"o{i}.qcow2"
        t, _ = timed(
            subprocess.run,
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
             "-b", str(vm.disk), str(path)],
            check=True,
        )  # fmt: skip
        times.append(t * 1000)
    size = path.stat().st_size
    safe_rmtree(folder)
    return {"overlay_ms_median": round(statistics.median(times), 1),
            "overlay_ms_all": [round(t, 1) for t in times],
            "overlay_file_kib": round(size / 1024)}  # fmt: skip


def bench_single(lab: VmLab, vm: VmImage, settle: float) -> dict[str, object]:
    """One VM alone: define-to-ready, memory, then snapshot/revert; destroyed after."""
    assert lab.vm is not None
    spec = lab.spec(N_SINGLE, vm.disk.parent, boot=vm.boot())
    figures = lab.boot(spec)
    res = lab.vm.exec(spec.name, ["systemd-analyze"], timeout=60)
    figures["guest_systemd_analyze"] = (
        res.stdout.strip().splitlines()[0].strip() if res.stdout else ""
    )
    time.sleep(settle)
    pid = qemu_pid(spec.name)
    figures["rss_mib"] = rss_mib(pid)
    figures["qemu_accel"] = qemu_accel_arg(pid)

    snaps, reverts = [], []
    for i in range(SNAP_ROUNDS):
        t, _ = timed(lab.vm.snapshot, spec.name, f"bench{i}")
        snaps.append(t)
    snap_xml = ET.fromstring(
        connect().lookupByName(spec.name).snapshotLookupByName("bench0").getXMLDesc(0)
    )
    memory_el = snap_xml.find("memory")
    memory_kind = memory_el.get("snapshot") if memory_el is not None else "?"
    figures["snapshot_kind"] = f"state={snap_xml.findtext('state')} memory={memory_kind}"
    marker = "/root/after-snapshot"
    for i in reversed(range(SNAP_ROUNDS)):
        lab.vm.exec(spec.name, ["touch", marker])
        t, _ = timed(lab.vm.revert, spec.name, f"bench{i}")
        reverts.append(t)
    gone = lab.vm.exec(spec.name, ["test", "!", "-e", marker]).rc == 0
    clock_t, _ = timed(lab.vm.sync_clock, spec.name)
    skew = lab.vm.exec(spec.name, ["date", "+%s.%N"])
    figures["snapshot_s_median"] = median(snaps)
    figures["snapshot_s_all"] = [round(t, 2) for t in snaps]
    figures["revert_s_median"] = median(reverts)
    figures["revert_s_all"] = [round(t, 2) for t in reverts]
    figures["revert_undid_changes"] = gone
    figures["set_clock_alone_s"] = clock_t
    figures["guest_clock_skew_s"] = round(float(skew.stdout) - time.time(), 2)
    figures["rss_after_reverts_mib"] = rss_mib(qemu_pid(spec.name))
    lab.vm.destroy(spec.name)
    return figures


def bench_unbounded(lab: VmLab, vm: VmImage, settle: float) -> dict[str, object]:
    """One VM alone whose domain lacks <tcg><tb-cache>: QEMU's default translation cache."""
    assert lab.vm is not None
    spec = lab.spec(N_UNBOUNDED, vm.disk.parent, boot=vm.boot())
    figures = lab.boot(spec, unbounded_tb=True)
    time.sleep(settle)
    pid = qemu_pid(spec.name)
    figures["rss_mib"] = rss_mib(pid)
    figures["qemu_accel"] = qemu_accel_arg(pid)
    lab.vm.destroy(spec.name)
    return figures


def bench_parallel(lab: VmLab, vm: VmImage, count: int, settle: float) -> dict[str, object]:
    """count VMs at once, one thread each doing create + start(wait=True)."""
    assert lab.vm is not None
    specs = [lab.spec(N_PARALLEL + i, vm.disk.parent, boot=vm.boot()) for i in range(count)]
    per_vm: dict[str, dict[str, object]] = {}
    errors: list[str] = []

    def one(spec: NodeSpec) -> None:
        try:
            per_vm[spec.hostname] = lab.boot(spec)
        except Exception as exc:  # collected and reported
            errors.append(f"{spec.hostname}: {type(exc).__name__}: {exc}")

    started = time.monotonic()
    lab.threads = [threading.Thread(target=one, args=(s,), daemon=True) for s in specs]
    for t in lab.threads:
        t.start()
    for t in lab.threads:
        t.join()
    wall = since(started)
    time.sleep(settle)
    rss = {s.hostname: rss_mib(qemu_pid(s.name)) for s in specs}
    for s in specs:
        lab.vm.destroy(s.name)
    ready = [float(v["define_to_ready_s"]) for v in per_vm.values()]  # type: ignore[arg-type]
    return {
        "vms": count,
        "wall_all_ready_s": wall,
        "per_vm_define_to_ready_s": {k: v["define_to_ready_s"] for k, v in sorted(per_vm.items())},
        "per_vm_agent_up_s": {k: v["agent_up_s"] for k, v in sorted(per_vm.items())},
        "per_vm_create_s": {k: v["create_s"] for k, v in sorted(per_vm.items())},
        "per_vm_median_s": median(ready) if ready else None,
        "rss_mib": rss,
        "rss_mib_median": median([r for r in rss.values() if r is not None]) if rss else None,
        "errors": errors,
    }


def container_memory_mib(lab_id: str, name: str) -> float | None:
    for top in cgroups.dirs_of(naming.cgroup_container_dir(lab_id, name)):
        for fname in ("memory.usage_in_bytes", "memory.current"):
            f = top / fname
            if f.exists():
                return round(int(f.read_text()) / 2**20, 1)
    return None


def bench_container(lab: VmLab, settle: float) -> dict[str, object]:
    """A container node of the same base image: create + start(wait=True), alone."""
    assert lab.lxc is not None
    t_img, image = timed(ImageBuilder().build, "base")
    totals, creates = [], []
    memory = None
    for i in range(CONTAINER_ROUNDS):
        spec = lab.spec(N_CONTAINER + i, image.rootfs, engine="container")
        started = time.monotonic()
        lab.lxc.create(spec)
        creates.append(since(started))
        lab.lxc.start(spec.name, wait=True)
        totals.append(since(started))
        if i == 0:
            time.sleep(settle)
            memory = container_memory_mib(lab.lab_id, spec.name)
        lab.lxc.destroy(spec.name)
    return {
        "image_cached_s": t_img,
        "create_s_median": median(creates),
        "define_to_ready_s_median": median(totals),
        "define_to_ready_s_all": totals,
        "memory_cgroup_mib": memory,
    }


# -- report ------------------------------------------------------------------------------


def table(r: dict[str, Any]) -> list[tuple[str, str]]:
    img = r["image"]
    rows: list[tuple[str, str]] = [
        (
            "load average at start / before VMs / at end",
            " / ".join(str(r["load"][k]) for k in ("start", "before_vms", "end")),
        )
    ]
    rows.append(("other qemu processes on the host at start", str(r["other_qemu_at_start"])))
    rows.append(("virt type (accel decision)", str(r["virt_type"])))
    if "cold_total_s" in img:
        rows += [
            ("`base` VM image, cold: total (layer + disk)", f"{img['cold_total_s']} s"),
            ("  `base-vm` layer (copy base, apt, finalize)", f"{img['cold_layer_s']} s"),
            (
                "  disk: ext4 (mkfs -d) + qcow2 convert",
                f"{img['cold_disk_s']} s ({img['cold_disk_ext4_s']} + {img['cold_disk_qcow2_s']})",
            ),
            (
                "  base disk size (qcow2 / virtual)",
                f"{img['disk_qcow2_mib']} MiB / {img['disk_virtual_gib']} GiB",
            ),
            ("`base` VM image, cached (second call)", f"{img['cached_second_call_s']} s"),
        ]
    rows.append(
        (
            "`base` VM image from the real cache",
            f"{img['real_store_call_s']} s"
            + ("" if img["real_store_was_cached"] else " (was built)"),
        )
    )
    ov = r["overlay"]
    s = r["single"]
    rows += [
        ("linked clone: `qemu-img create -b` alone (median of 5)", f"{ov['overlay_ms_median']} ms"),
        (
            "linked clone: engine create() total (1 VM alone)",
            f"{round(float(s['create_s']) * 1000)} ms",
        ),
        ("1 VM alone: define to guest agent up", f"{s['agent_up_s']} s"),
        ("1 VM alone: define to ready (systemd done)", f"{s['define_to_ready_s']} s"),
        ("  guest's own view", str(s["guest_systemd_analyze"])),
    ]
    p = r["parallel"]
    per = ", ".join(f"{v}" for v in p["per_vm_define_to_ready_s"].values())
    rows += [
        (f"{p['vms']} VMs at once: wall time to all ready", f"{p['wall_all_ready_s']} s"),
        (
            f"{p['vms']} VMs at once: per VM define to ready",
            f"{per} s (median {p['per_vm_median_s']})",
        ),
    ]
    if p["errors"]:
        rows.append(("  errors", "; ".join(p["errors"])))
    u = r.get("unbounded")
    rows.append(("qemu RSS, 1 VM alone, tb-cache 64 MiB", f"{s['rss_mib']} MiB"))
    if u:
        rows.append(
            (
                "qemu RSS, 1 VM alone, tb-cache unbounded (QEMU default)",
                f"{u['rss_mib']} MiB (ready in {u['define_to_ready_s']} s)",
            )
        )
    rss = ", ".join(str(v) for v in p["rss_mib"].values())
    rows += [
        (
            f"qemu RSS, {p['vms']} VMs at once (tb-cache 64 MiB)",
            f"{rss} MiB (median {p['rss_mib_median']})",
        ),
        ("running snapshot, median of 3", f"{s['snapshot_s_median']} s"),
        ("revert (incl. guest clock), median of 3", f"{s['revert_s_median']} s"),
        ("  of which setting the guest clock alone", f"{s['set_clock_alone_s']} s"),
        (
            "  snapshot kind / changes undone / guest clock skew after",
            f"{s['snapshot_kind']} / {s['revert_undid_changes']} / {s['guest_clock_skew_s']} s",
        ),
    ]
    c = r["container"]
    rows += [
        (
            "container node (`base`): define to ready, median of 3",
            f"{c['define_to_ready_s_median']} s",
        ),
        ("container node memory (cgroup)", f"{c['memory_cgroup_mib']} MiB"),
        ("ratio VM / container define-to-ready (1 alone)", str(r["ratio_vm_to_container_ready"])),
        ("ratio VM RSS / container memory", str(r["ratio_vm_to_container_memory"])),
        ("leftovers after cleanup", str(r["leftovers"] or "none")),
        ("bench wall time", f"{r['bench_wall_s']} s"),
    ]
    return rows


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-cold", action="store_true", help="no cold VM image build")
    parser.add_argument("--vms", type=int, default=4, help="VMs booted at once")
    parser.add_argument("--skip-unbounded", action="store_true",
                        help="no VM without the TCG translation-cache bound")  # fmt: skip
    parser.add_argument("--settle", type=float, default=5.0, help="idle seconds before RSS")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--json-file", type=Path, help="also write the JSON there")
    args = parser.parse_args()
    if not 1 <= args.vms <= 50:
        parser.error("--vms must be 1-50")

    # Ctrl-C and kill both go through the finally below.
    signal.signal(signal.SIGTERM, _interrupt)
    bench_started = time.monotonic()
    results: dict[str, Any] = {"load": {"start": loadavg()}}
    results["other_qemu_at_start"] = len(
        subprocess.run(
            ["pgrep", "-x", "qemu-system-x86"], capture_output=True, text=True
        ).stdout.split()
    )
    results["libvirt_connect_s"], _ = timed(connect)  # libvirtd probes QEMU on first use
    results["image"], vm = bench_image(args.skip_cold)

    lab = VmLab()
    failed = False
    try:
        lab.open()
        assert lab.vm is not None
        results["virt_type"] = virt_type(vm.boot())
        results["lab_id"] = lab.lab_id
        results["overlay"] = bench_overlay(lab, vm)
        results["load"]["before_vms"] = loadavg()
        results["single"] = bench_single(lab, vm, args.settle)
        if not args.skip_unbounded and results["virt_type"] == "qemu":
            results["unbounded"] = bench_unbounded(lab, vm, args.settle)
        results["parallel"] = bench_parallel(lab, vm, args.vms, args.settle)
        results["container"] = bench_container(lab, args.settle)
    except BaseException:
        failed = True
        raise
    finally:
        results["leftovers"] = lab.close()
        if failed:
            print(f"bench_vm: lab {lab.lab_id} removed; leftovers: {results['leftovers']}",
                  file=sys.stderr)  # fmt: skip
    results["load"]["end"] = loadavg()
    single = results["single"]
    container = results["container"]
    results["ratio_vm_to_container_ready"] = round(
        float(single["define_to_ready_s"]) / float(container["define_to_ready_s_median"]), 1
    )
    if single["rss_mib"] and container["memory_cgroup_mib"]:
        results["ratio_vm_to_container_memory"] = round(
            float(single["rss_mib"]) / float(container["memory_cgroup_mib"]), 1
        )
    else:
        results["ratio_vm_to_container_memory"] = None
    results["bench_wall_s"] = since(bench_started)

    text = json.dumps(results, indent=2, default=str)
    if args.json_file:
        args.json_file.write_text(text + "\n")
    if args.json:
        print(text)
        return 0
    rows = table(results)
    width = max(len(w) for w, _ in rows)
    print(f"| {'what':{width}} | figure |")
    print(f"| {'-' * width} | --- |")
    for what, figure in rows:
        print(f"| {what:{width}} | {figure} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
