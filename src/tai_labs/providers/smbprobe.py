"""An SMB share tried by the host's own smbclient from inside a node's network namespace.

The host's ``smbclient`` (never the node's) runs under ``nsenter --net`` with a private
configuration (no file of the host's or the node's Samba set-up is read; its caches and
state go to the same private folder) and the credentials in an authentication file, 0600 in
a 0700 folder removed afterwards: the password is in no argv and no environment. The server
is given by address, resolved beforehand as the node would resolve its name. The output
is what ``graders/probe_access.py``'s node-side script prints (a ``== write ==`` line
between the listing and the write test), so one judge reads both.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass

from tai_labs.providers.errors import EngineError
from tai_labs.providers.netns import NetNamespace

#: A share name and a user as they may reach smbclient's argv and its auth file.
SHARE = re.compile(r"[^/\s\\;\"']{1,80}")
USER = re.compile(r"[A-Za-z0-9._@$-]{1,104}(\\[A-Za-z0-9._$-]{1,64})?")
WRITE_MARK = "== write =="


@dataclass(frozen=True)
class SmbAttempt:
    rc: int
    stdout: str
    stderr: str
    truncated: tuple[str, ...] = ()


def smb_access(
    netns: NetNamespace,
    address: str,
    share: str,
    user: str,
    password: str,
    *,
    write: bool,
    timeout: float = 60.0,
) -> SmbAttempt:
    """List ``//address/share`` as ``user`` (then put and delete a file when ``write``)."""
    if not SHARE.fullmatch(share):
        raise EngineError(f"not a share name: {share!r}")
    if not USER.fullmatch(user) or "\n" in password:
        raise EngineError("user or password not usable in an SMB authentication file")
    domain, _, login = user.rpartition("\\")
    folder = tempfile.mkdtemp(prefix="tai-labs-smb-")  # 0700, ours alone
    try:
        os.chmod(folder, 0o700)
        conf = os.path.join(folder, "smb.conf")
        auth = os.path.join(folder, "auth")
        probe = os.path.join(folder, "probe.txt")
        # Everything smbclient would keep goes to the private folder, nothing to the host's.
        _write(
            conf,
            "[global]\n  client min protocol = SMB2\n"
            + "".join(
                f"  {key} = {folder}\n"
                for key in ("cache directory", "lock directory", "state directory", "private dir")
            ),
        )
        _write(
            auth,
            f"username = {login}\npassword = {password}\n"
            + (f"domain = {domain}\n" if domain else ""),
        )
        _write(probe, "probe\n")
        base = ["smbclient", f"//{address}/{share}", "-s", conf, "-A", auth,
                "--use-kerberos=off", "-t", "15"]  # fmt: skip
        listing = netns.run([*base, "-c", "ls"], timeout=timeout)
        if listing.rc != 0 or not write:
            return SmbAttempt(listing.rc, listing.stdout, listing.stderr, listing.truncated)
        name = f"tai-labs-probe-{os.getpid()}.txt"
        put = netns.run([*base, "-c", f"put {probe} {name}; del {name}"], timeout=timeout)
        return SmbAttempt(
            put.rc,
            f"{listing.stdout}{WRITE_MARK}\n{put.stdout}",
            f"{listing.stderr}{put.stderr}",
            tuple(sorted(set(listing.truncated) | set(put.truncated))),
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
