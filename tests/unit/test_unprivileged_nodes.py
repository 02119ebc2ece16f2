"""Unprivileged container nodes: id ranges per lab, the LXC lines that confine a node, tun."""

from __future__ import annotations

import ipaddress
import os
import struct
import subprocess
from pathlib import Path

import pytest

from tai_labs.context import stdin_to_file_argv
from tai_labs.kinds import KINDS, NodeKind
from tai_labs.providers.base import NicSpec, NodeSpec
from tai_labs.providers.errors import EngineError
from tai_labs.providers.lxc_config import (
    KEPT_CAPABILITIES,
    NodeLayout,
    apparmor_enabled,
    confinement_lines,
    render_config,
)
from tai_labs.providers.userns import (
    FIRST_ID,
    RANGE_SIZE,
    IdRange,
    lab_range,
    recorded_range,
    shift_tree,
    traverse_acl,
)
from tai_labs.roles.ad_dc import is_initial_uid_map


def _spec(*, tun: bool = False) -> NodeSpec:
    return NodeSpec(
        name="abc123-sw1",
        hostname="sw1",
        image=Path("/images/switch/rootfs"),
        management=NicSpec(
            bridge="tlabc123m", name="eth0", address=ipaddress.IPv4Interface("100.64.1.11/24")
        ),
        tun=tun,
    )


def test_each_lab_gets_its_own_range_and_keeps_it(tmp_path: Path) -> None:
    labs = tmp_path / "labs"
    first = lab_range(labs, labs / "aaaaaa" / "lxc")
    second = lab_range(labs, labs / "bbbbbb" / "lxc")
    assert first == IdRange(FIRST_ID)
    assert second == IdRange(FIRST_ID + RANGE_SIZE)
    # Asked again (a second node of the lab), the recorded range comes back.
    assert lab_range(labs, labs / "aaaaaa" / "lxc") == first
    # A lab gone (down deletes its folder) frees its range for the next lab.
    (labs / "aaaaaa" / "lxc" / "idmap.json").unlink()
    assert lab_range(labs, labs / "cccccc" / "lxc") == first


def test_a_range_tai_labs_did_not_allocate_is_refused(tmp_path: Path) -> None:
    (tmp_path / "idmap.json").write_text('{"base": 0, "size": 65536}')
    with pytest.raises(EngineError, match="did not allocate"):
        recorded_range(tmp_path)


def test_the_range_covers_samba_dc_ids() -> None:
    # A Samba DC maps the domain's groups from 3,000,000 up: chown to them must work.
    rng = IdRange(FIRST_ID)
    assert rng.host_id(3_000_000) == FIRST_ID + 3_000_000
    with pytest.raises(EngineError):
        rng.host_id(RANGE_SIZE)
    assert rng.lxc_lines() == [
        f"lxc.idmap = u 0 {FIRST_ID} {RANGE_SIZE}",
        f"lxc.idmap = g 0 {FIRST_ID} {RANGE_SIZE}",
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to other ids needs root")
def test_shift_tree_moves_owners_into_the_range_and_keeps_modes(tmp_path: Path) -> None:
    upper = tmp_path / "delta0"
    (upper / "etc/ssh").mkdir(parents=True)
    key = upper / "etc/ssh/key"
    key.write_text("k")
    os.chmod(key, 0o600)
    os.chown(key, 0, 42)
    (upper / "link").symlink_to("etc")
    rng = IdRange(FIRST_ID)
    shift_tree(upper, rng)
    assert (upper.stat().st_uid, upper.stat().st_gid) == (FIRST_ID, FIRST_ID)
    assert (key.stat().st_uid, key.stat().st_gid) == (FIRST_ID, FIRST_ID + 42)
    assert key.stat().st_mode & 0o7777 == 0o600
    assert (upper / "link").lstat().st_uid == FIRST_ID
    # Shifting twice would hand the files to ids outside the node: refused.
    with pytest.raises(EngineError, match="not by a node id"):
        shift_tree(upper, rng)


def test_traverse_acl_grants_search_only_to_the_node_root() -> None:
    blob = traverse_acl(0o700, FIRST_ID)
    version, *_ = struct.unpack_from("<I", blob)
    entries = [struct.unpack_from("<HHI", blob, 4 + 8 * i) for i in range(5)]
    assert version == 2
    undefined = 0xFFFFFFFF
    assert entries == [
        (0x01, 7, undefined),  # owner: rwx as before
        (0x02, 1, FIRST_ID),  # the node's root: x only
        (0x04, 0, undefined),  # group: nothing, as before
        (0x10, 1, undefined),  # mask lets the x entry through
        (0x20, 0, undefined),  # others: nothing, as before
    ]


LAYOUT = NodeLayout(Path("/data/labs/abc123/lxc/abc123-sw1"))


def test_privileged_config_is_unchanged_but_tun_is_only_where_asked() -> None:
    lines = confinement_lines(_spec(), LAYOUT, None, apparmor=False)
    assert lines == ["lxc.apparmor.profile = unconfined"]
    assert not any("10:200" in line for line in lines)
    tun = confinement_lines(_spec(tun=True), LAYOUT, None, apparmor=False)
    assert "lxc.cgroup.devices.allow = c 10:200 rwm" in tun


def test_an_unprivileged_switch_gets_its_own_tun_node_bound_in() -> None:
    lines = confinement_lines(_spec(tun=True), LAYOUT, IdRange(FIRST_ID), apparmor=False)
    assert "lxc.cgroup.devices.allow = c 10:200 rwm" in lines
    assert f"lxc.mount.entry = {LAYOUT.tun} dev/net/tun none bind,create=file 0 0" in lines
    assert not any("/dev/net" in line for line in confinement_lines(
        _spec(), LAYOUT, IdRange(FIRST_ID), apparmor=False))  # fmt: skip


def test_unprivileged_config_maps_ids_keeps_listed_caps_and_loads_apparmor_if_any() -> None:
    rng = IdRange(FIRST_ID)
    lines = confinement_lines(_spec(), LAYOUT, rng, apparmor=True)
    assert lines[:2] == rng.lxc_lines()
    assert "lxc.apparmor.profile = generated" in lines
    assert lines.index("lxc.cap.drop =") < lines.index(
        next(line for line in lines if line.startswith("lxc.cap.keep"))
    )
    kept = next(line for line in lines if line.startswith("lxc.cap.keep")).split("=")[1].split()
    assert set(kept) == set(KEPT_CAPABILITIES)
    for dangerous in ("sys_module", "sys_rawio", "sys_time", "bpf", "perfmon", "syslog"):
        assert dangerous not in kept
    without = confinement_lines(_spec(), LAYOUT, rng, apparmor=False)
    assert "lxc.apparmor.profile = unconfined" in without


def test_unprivileged_rootfs_is_the_host_mounted_overlay(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path / "abc123-sw1")
    text = render_config(_spec(), "abc123", 1, layout, IdRange(FIRST_ID))
    assert f"lxc.rootfs.path = dir:{layout.rootfs}\n" in text
    privileged = render_config(_spec(), "abc123", 1, layout)
    assert f"lxc.rootfs.path = overlay:/images/switch/rootfs:{layout.upper}\n" in privileged


def test_apparmor_detection_reads_the_module_flag(tmp_path: Path) -> None:
    flag = tmp_path / "enabled"
    assert not apparmor_enabled(flag)  # absent: no AppArmor
    flag.write_text("Y\n")
    assert apparmor_enabled(flag)
    flag.write_text("N\n")
    assert not apparmor_enabled(flag)


def test_only_switches_get_tun() -> None:
    assert {kind for kind, spec in KINDS.items() if spec.tun} == {NodeKind.SWITCH}


def test_uid_map_of_the_host_is_recognised() -> None:
    assert is_initial_uid_map("         0          0 4294967295\n")
    assert not is_initial_uid_map(f"         0 {FIRST_ID} {RANGE_SIZE}\n")


def test_stdin_to_file_writes_paths_and_modes_literally(tmp_path: Path) -> None:
    target = tmp_path / "new dir" / "$(touch pwned)" / "f;x"
    proc = subprocess.run(
        stdin_to_file_argv(str(target), "0600"), input=b"secret\n", capture_output=True
    )
    assert proc.returncode == 0, proc.stderr
    assert target.read_text() == "secret\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert target.parent.stat().st_mode & 0o777 == 0o755
    assert not (Path.cwd() / "pwned").exists()
