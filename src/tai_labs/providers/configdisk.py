"""The read-only config disk a VM node reads at boot (label TAICONFIG).

It carries what a container gets seeded into its upper layer (see ``providers.seed``):
host name, hosts and resolver files, root's authorized key, the host key generated on the
host (so the tool can pin it), and networkd files. The guest unit of
``images/vm/vm-guest.yaml`` copies ``root/`` over ``/`` and applies ``modes``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tai_labs.private_files import write_private
from tai_labs.providers.base import NodeSpec
from tai_labs.providers.hostcmd import require_tools, run
from tai_labs.providers.keys import KeyPair
from tai_labs.providers.seed import hosts_file, networkd_file, resolv_file

LABEL = "TAICONFIG"


def config_files(spec: NodeSpec, host_key: KeyPair) -> dict[str, tuple[str, int]]:
    """Absolute guest path -> (content, mode) for one node."""
    files: dict[str, tuple[str, int]] = {
        "/etc/hostname": (spec.hostname + "\n", 0o644),
        "/etc/hosts": (hosts_file(spec), 0o644),
        "/etc/resolv.conf": (resolv_file(spec), 0o644),
        "/etc/ssh/ssh_host_ed25519_key": (host_key.private_openssh.decode(), 0o600),
        "/etc/ssh/ssh_host_ed25519_key.pub": (host_key.public_line + "\n", 0o644),
    }
    if spec.authorized_keys:
        files["/root/.ssh/authorized_keys"] = ("\n".join(spec.authorized_keys) + "\n", 0o600)
    for nic in spec.all_nics:
        files[f"/etc/systemd/network/10-tai-labs-{nic.name}.network"] = (
            networkd_file(nic),
            0o644,
        )
    return files


def modes_listing(files: dict[str, tuple[str, int]]) -> str:
    lines = [f"{mode:o} {path}" for path, (_, mode) in sorted(files.items())]
    if any(p.startswith("/root/.ssh/") for p in files):
        lines.append("700 /root/.ssh")  # sshd's StrictModes
    return "\n".join(lines) + "\n"


def write_config_iso(spec: NodeSpec, host_key: KeyPair, target: Path) -> None:
    """Write the node's config disk to target (ISO 9660 with Rock Ridge), atomically."""
    require_tools("genisoimage")
    files = config_files(spec, host_key)
    with tempfile.TemporaryDirectory(prefix="tai-config-") as tmp:
        top = Path(tmp) / "disk"
        for path, (content, mode) in files.items():
            dest = top / "root" / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(content)
            dest.chmod(mode)
        (top / "modes").write_text(modes_listing(files))
        partial = target.with_suffix(".iso.tmp")
        # Made 0600 before genisoimage writes into it (it keeps the mode of an existing
        # file): the image holds the node's private host key from its first byte.
        write_private(partial, b"")
        run(
            [
                "genisoimage", "-quiet", "-o", str(partial), "-V", LABEL,
                "-R", "-J", "-input-charset", "utf-8", str(top),
            ]
        )  # fmt: skip
        partial.replace(target)
