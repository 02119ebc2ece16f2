"""Per-node files written into a node's overlay upper layer before its first boot.

The image is shared read-only by every node; identity (hostname, machine-id, SSH host key),
root's authorized key and network configuration live in the node's own upper layer.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from tai_labs.providers.base import NicSpec, NodeSpec
from tai_labs.providers.keys import KeyPair
from tai_labs.providers.networkd import network_unit


def derived_mac(node_name: str, nic_index: int) -> str:
    """A stable, locally administered unicast MAC for a NIC that has none in its spec."""
    digest = hashlib.sha256(f"{node_name}/{nic_index}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def _mkdirs_like(lower: Path, upper: Path, rel_dir: str) -> Path:
    """Create rel_dir in upper with the owner and mode the image gives it.

    overlayfs shows the upper dir's attributes for a merged dir, so a dir created with the
    wrong mode here (e.g. /root as 0755) would change what the node sees.
    """
    current_upper = upper
    current_lower = lower
    for part in Path(rel_dir.strip("/")).parts:
        current_upper = current_upper / part
        current_lower = current_lower / part
        if current_upper.is_dir():
            continue
        if current_lower.is_dir() and not current_lower.is_symlink():
            st = current_lower.stat()
            current_upper.mkdir(mode=0o700)
            os.chown(current_upper, st.st_uid, st.st_gid)
            os.chmod(current_upper, st.st_mode & 0o7777)
        else:
            current_upper.mkdir(mode=0o755)
    return current_upper


def _write(lower: Path, upper: Path, path: str, content: str | bytes, mode: int = 0o644) -> None:
    parent = _mkdirs_like(lower, upper, str(Path(path).parent))
    target = parent / Path(path).name
    target.unlink(missing_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content.encode() if isinstance(content, str) else content)
    os.chmod(target, mode)


def networkd_file(nic: NicSpec) -> str:
    return network_unit(nic.name, dhcp=nic.dhcp, address=nic.address, gateway=nic.gateway)


def hosts_file(spec: NodeSpec) -> str:
    names = f"{spec.hostname}.{spec.domain} {spec.hostname}" if spec.domain else spec.hostname
    return f"127.0.0.1\tlocalhost\n127.0.1.1\t{names}\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def resolv_file(spec: NodeSpec) -> str:
    lines = ["# written by tai-labs"]
    if spec.domain:
        lines.append(f"search {spec.domain}")
    lines += [f"nameserver {ip}" for ip in spec.dns_servers]
    return "\n".join(lines) + "\n"


def seed_upper(spec: NodeSpec, upper: Path, host_key: KeyPair) -> None:
    """Write the node's identity, access and network files into its upper layer."""
    lower = spec.image
    upper.mkdir(parents=True, exist_ok=True)
    _write(lower, upper, "/etc/hostname", spec.hostname + "\n")
    _write(lower, upper, "/etc/hosts", hosts_file(spec))
    _write(lower, upper, "/etc/resolv.conf", resolv_file(spec))
    _write(lower, upper, "/etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
    _write(lower, upper, "/etc/ssh/ssh_host_ed25519_key", host_key.private_openssh, 0o600)
    _write(lower, upper, "/etc/ssh/ssh_host_ed25519_key.pub", host_key.public_line + "\n")
    if spec.authorized_keys:
        # sshd's StrictModes wants /root/.ssh to be 0700 and owned by root.
        _mkdirs_like(lower, upper, "/root")
        ssh_dir = upper / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(ssh_dir, 0o700)
        _write(
            lower,
            upper,
            "/root/.ssh/authorized_keys",
            "\n".join(spec.authorized_keys) + "\n",
            0o600,
        )
    for nic in spec.all_nics:
        _write(
            lower, upper, f"/etc/systemd/network/10-tai-labs-{nic.name}.network", networkd_file(nic)
        )
