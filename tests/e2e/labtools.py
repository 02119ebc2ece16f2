"""Helpers of the end-to-end tests: run the CLI, list what a lab left on the host."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tai_labs.locations import locations
from tai_labs.providers import naming

TOOLS = ("lxc-start", "debootstrap", "nft", "ip")


def host_problem() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for tool in TOOLS:
        if shutil.which(tool) is None:
            return f"needs {tool} (make install)"
    return None


def tai(*args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "tai_labs", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and out.returncode != 0:
        raise AssertionError(f"tai-labs {' '.join(args)} -> {out.returncode}\n{out.stderr}")
    return out


def leftovers(lab_id: str) -> list[str]:
    """Everything of the lab still on the host: must be empty after `down`."""
    found: list[str] = []
    prefix = naming.if_prefix(lab_id)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [f"link {line.split(':')[1].strip()}" for line in links.splitlines() if prefix in line]
    folder = locations().lab(lab_id)
    found += [
        f"mount {line.split()[1]}"
        for line in Path("/proc/mounts").read_text().splitlines()
        if str(folder) in line
    ]
    for top in Path("/sys/fs/cgroup").iterdir():
        if (top / naming.cgroup_lab_dir(lab_id)).exists():
            found.append(f"cgroup {top / naming.cgroup_lab_dir(lab_id)}")
    if folder.exists():
        found.append(f"folder {folder}")
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    if naming.nft_table(lab_id) in tables:
        found.append(f"nft table {naming.nft_table(lab_id)}")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if str(folder).encode() in cmdline:
                found.append(f"process {entry}: {cmdline.decode(errors='replace')[:80]}")
    ls = tai("ls", "--json", check=False)
    if lab_id in ls.stdout:
        found.append("state row")
    return found
