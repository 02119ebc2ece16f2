"""On the DC itself: sam.ldb read with ``ldbsearch`` (its LDIF parsed into the same
``DirectoryEntry`` records a directory session gives) and written with ``ldbmodify``; the
records of a ``samba-tool dns query``."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Protocol

from tai_labs.sessions.base import DirectoryEntry

#: Samba's directory database on a DC, read with ldbsearch and written with ldbmodify.
SAM_LDB = "/var/lib/samba/private/sam.ldb"


class ExecResult(Protocol):
    @property
    def stdout(self) -> str: ...

    @property
    def ok(self) -> bool: ...


class Runner(Protocol):
    """What runs a command in the node (a role's, fault's or action's context)."""

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | bytes | None = None,
        timeout: float | None = 120.0,
        check: bool = True,
    ) -> ExecResult: ...


def parse_ldif(text: str) -> list[DirectoryEntry]:
    """Entries of ldbsearch's LDIF (folded lines joined, base64 values decoded); referrals
    and comments are skipped; attribute names lowercased, as a directory session gives them."""
    logical: list[str] = []
    for raw in text.splitlines():
        if raw.startswith(" ") and logical:
            logical[-1] += raw[1:]
        else:
            logical.append(raw)
    entries: list[DirectoryEntry] = []
    dn: str | None = None
    attributes: dict[str, list[str]] = {}
    for line in [*logical, ""]:
        if not line.strip():
            if dn is not None:
                entries.append(DirectoryEntry(dn, attributes))
            dn, attributes = None, {}
            continue
        if line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        if value.startswith(":"):
            value = base64.b64decode(value[1:].strip()).decode("utf-8", errors="replace")
        else:
            value = value.strip()
        if key.lower() == "dn":
            dn = value
        elif dn is not None:  # lines outside an entry: a referral's "ref:"
            attributes.setdefault(key.lower(), []).append(value)
    return entries


def ldb_search(
    node: Runner,
    ldap_filter: str,
    attrs: Sequence[str],
    base: str | None = None,
    *,
    scope: str | None = None,
    check: bool = True,
) -> list[DirectoryEntry]:
    """Entries of sam.ldb on the DC; with ``check`` False, a failed search finds nothing."""
    argv = ["ldbsearch", "-H", SAM_LDB]
    if base is not None:
        argv += ["-b", base]
    if scope is not None:
        argv += ["-s", scope]
    res = node.run([*argv, ldap_filter, *attrs], check=check)
    return parse_ldif(res.stdout) if res.ok else []


def ldb_modify(node: Runner, dn: str, attr: str, values: Sequence[str]) -> None:
    """Replace ``attr`` of ``dn`` (LDIF through stdin; DN and values base64, whatever they hold)."""
    lines = [
        f"dn:: {base64.b64encode(dn.encode()).decode()}",
        "changetype: modify",
        f"replace: {attr}",
        *(f"{attr}:: {base64.b64encode(v.encode()).decode()}" for v in values),
        "-",
    ]
    node.run(["ldbmodify", "-H", SAM_LDB], input="\n".join(lines) + "\n")


def dns_data(query_output: str, rtype: str) -> list[str]:
    """Data of the ``rtype`` records in a ``samba-tool dns query`` output."""
    out = []
    for line in query_output.splitlines():
        m = re.match(rf"^\s*{rtype}:\s+(\S+)\s+\(", line)
        if m:
            out.append(m.group(1))
    return out
