"""Helpers of the end-to-end tests: run the CLI, list what a lab left on the host."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

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


# -- the portal's end-to-end tests ---------------------------------------------------------------


def forget_session(name: str) -> None:
    """Drop an exam session's records and its logins (a session whose labs the test made
    with `tai-labs up`, not `session up`: `session down` has nothing of it to remove)."""
    with sqlite3.connect(locations().store) as db:
        db.execute("DELETE FROM exam_candidates WHERE session = ?", (name,))
        db.execute("DELETE FROM exam_sessions WHERE name = ?", (name,))
        db.execute("DELETE FROM portal_logins WHERE session = ?", (name,))


def slip_and_seed(tmp_path: Path, session: str) -> tuple[str, int]:
    """The one candidate's password as printed on their slip, and their drawn seed."""
    slips = tmp_path / "billets.html"
    tai("session", "slips", session, "-o", str(slips))
    found = re.search(r"<dt>Mot de passe</dt><dd>([^<]+)</dd>", slips.read_text())
    assert found, "no password on the slip"
    shown = json.loads(tai("session", "show", session, "--json").stdout)
    return found.group(1).strip(), int(shown["candidates"][0]["draws"][0]["seed"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Portal:
    """`tai-labs serve` on a free local port, its output in ``serve.log`` of the test."""

    url: str
    process: subprocess.Popen[bytes]
    log: IO[str]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


def start_portal(tmp_path: Path, *options: str) -> Portal:
    """Start the portal and return once it answers its login page."""
    port = free_port()
    tai_labs = shutil.which("tai-labs", path=str(Path(sys.executable).parent))
    assert tai_labs
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [tai_labs, "serve", "--listen", f"127.0.0.1:{port}", *options], stdout=log, stderr=log
    )
    portal = Portal(f"http://127.0.0.1:{port}", process, log)
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{portal.url}/login", timeout=2).close()
            break
        except OSError:
            time.sleep(0.2)
    return portal
