"""Running host commands (ip, lxc-*, debootstrap, mount) with errors that say what failed.

Every command is an argv list: values from recipes or scenarios never pass through a shell.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence

from tai_labs.providers.errors import CommandError, HostRequirementError

# Debian package that provides each tool we call, so the error can tell what to install.
TOOL_PACKAGES: dict[str, str] = {
    "lxc-start": "lxc",
    "lxc-attach": "lxc",
    "lxc-info": "lxc",
    "lxc-stop": "lxc",
    "lxc-freeze": "lxc",
    "debootstrap": "debootstrap",
    "apt-ftparchive": "apt-utils",
    "ip": "iproute2",
    "nft": "nftables",
    "ssh": "openssh-client",
    "chroot": "coreutils",
    "mount": "mount",
}


def require_root(purpose: str) -> None:
    if os.geteuid() != 0:
        raise HostRequirementError(f"{purpose} needs root", hint="run tai-labs as root (sudo)")


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pkgs = sorted({TOOL_PACKAGES.get(t, t) for t in missing})
        raise HostRequirementError(
            f"missing system tool(s): {', '.join(missing)}",
            hint=f"apt-get install -y {' '.join(pkgs)}",
        )


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    input: bytes | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run argv, capturing output; raise CommandError on a non-zero exit when check is set."""
    proc = subprocess.run(
        list(argv),
        input=input,
        capture_output=True,
        timeout=timeout,
        env=dict(env) if env is not None else None,
        check=False,
    )
    if check and proc.returncode != 0:
        raise CommandError(list(argv), proc.returncode, proc.stderr.decode(errors="replace"))
    return proc


def run_text(argv: Sequence[str], *, check: bool = True, timeout: float | None = None) -> str:
    return run(argv, check=check, timeout=timeout).stdout.decode(errors="replace")
