"""Fixtures for the runtime integration tests: host checks, the base image, labs of LXC nodes.

These tests need root, LXC and debootstrap (see docs/runtime.md, "System packages"); they
skip, naming what is missing, elsewhere. The base image is built once and stays cached in
the data folder (``$TAI_LABS_DATA`` or /var/lib/tai-labs), so later runs reuse it.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tai_labs.images.builder import ImageBuilder
from tai_labs.images.store import BuiltImage
from tai_labs.locations import locations
from tai_labs.providers import network
from tai_labs.providers.base import NicSpec, NodeSpec
from tai_labs.providers.cleanup import cleanup_lab
from tai_labs.providers.keys import ensure_lab_keypair, known_hosts_line
from tai_labs.providers.lxc import LxcEngine
from tai_labs.providers.naming import new_lab_id


def host_problem(*tools: str) -> str | None:
    """Why this host cannot run the runtime tests, or None."""
    if os.geteuid() != 0:
        return "needs root"
    for tool in tools:
        if shutil.which(tool) is None:
            return f"needs {tool} (apt-get install -y lxc debootstrap nftables)"
    if not Path("/proc/filesystems").read_text().count("overlay"):
        return "needs overlayfs in the kernel"
    return None


def skip_unless_host(*tools: str) -> None:
    problem = host_problem(*tools)
    if problem:
        pytest.skip(problem)


@pytest.fixture(scope="session")
def builder() -> ImageBuilder:
    skip_unless_host("debootstrap", "chroot")
    return ImageBuilder()


@pytest.fixture(scope="session")
def base_image(builder: ImageBuilder) -> BuiltImage:
    return builder.build("base")


@dataclass
class Lab:
    """A lab network plus an engine, with helpers to add nodes and reach them."""

    lab_id: str
    net: network.LabNetwork
    engine: LxcEngine
    image: BuiltImage
    key_path: Path
    public_key: str
    host_keys: dict[str, str] = field(default_factory=dict)
    mgmt_ips: dict[str, str] = field(default_factory=dict)

    def node_name(self, short: str) -> str:
        return f"{self.lab_id}-{short}"

    def add_node(
        self,
        short: str,
        lan: dict[str, str],
        *,
        start: bool = True,
        disk_limit_mib: int | None = None,
    ) -> str:
        """lan maps lab network name -> address/prefix; NICs are eth1, eth2, ... in that order."""
        name = self.node_name(short)
        number = len(self.engine.nodes()) + 1
        nics = tuple(
            NicSpec(
                bridge=self.net.bridges[netname],
                name=f"eth{i}",
                address=ipaddress.IPv4Interface(addr),
            )
            for i, (netname, addr) in enumerate(lan.items(), start=1)
        )
        spec = NodeSpec(
            name=name,
            hostname=short,
            image=self.image.rootfs,
            memory_mib=256,
            disk_limit_mib=disk_limit_mib,
            management=NicSpec(
                bridge=self.net.mgmt_bridge, name="eth0", address=self.net.node_mgmt_address(number)
            ),
            nics=nics,
            authorized_keys=(self.public_key,),
        )
        created = self.engine.create(spec)
        self.host_keys[name] = created.host_key
        assert created.management_address is not None
        self.mgmt_ips[name] = str(created.management_address.ip)
        if start:
            self.engine.start(name)
        return name

    def ssh(
        self, node: str, command: str, *, timeout: float = 15
    ) -> subprocess.CompletedProcess[str]:
        """SSH to the node's management address, pinning the host key create() returned."""
        known = self.key_path.parent / f"known_hosts-{node}"
        known.write_text(known_hosts_line([self.mgmt_ips[node]], self.host_keys[node]) + "\n")
        return subprocess.run(
            [
                "ssh",
                "-i",
                str(self.key_path),
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=5",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                f"UserKnownHostsFile={known}",
                "-o",
                "LogLevel=ERROR",
                f"root@{self.mgmt_ips[node]}",
                command,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="session")
def make_lab(base_image: BuiltImage) -> Iterator[Callable[..., Lab]]:
    """Factory of labs; every lab made is garbage-collected at the end of the session."""
    skip_unless_host("lxc-start", "lxc-attach", "ip", "nft")
    made: list[str] = []

    def factory(networks: tuple[str, ...] = ("lan",)) -> Lab:
        lab_id = new_lab_id()
        made.append(lab_id)
        net = network.create_lab_network(lab_id, list(networks))
        key_path, public = ensure_lab_keypair(locations().lab(lab_id), lab_id)
        return Lab(lab_id, net, LxcEngine(lab_id), base_image, key_path, public)

    yield factory
    for lab_id in made:
        cleanup_lab(lab_id)
