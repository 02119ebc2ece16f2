"""Parsers of a Linux node's system tools: systemd, dpkg, stat, df, fstab, resolv.conf, sshd -T
and lpstat."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tai_labs.grading.parsers.evidence import findall_between, fold
from tai_labs.sessions.base import CommandResult

# --------------------------------------------------------------------------------------------
# systemd


def parse_systemctl_show(text: str) -> list[dict[str, str]]:
    """``systemctl show`` output: one block of KEY=value lines per unit, blank-line separated."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key):
            raise ValueError(f"not a systemctl show line: {line!r}")
        current[key] = value
    if current:
        blocks.append(current)
    return blocks


def execstart_argvs(value: str) -> list[str]:
    """The command lines in an ``ExecStart={ path=... ; argv[]=... ; ... }`` property."""
    return [m.strip() for m in findall_between(value, "argv[]=", _ARGV_END)]


_ARGV_END = re.compile(r"\s;\s")


# --------------------------------------------------------------------------------------------
# dpkg, stat, df, fstab, resolv.conf


def dpkg_state(status: str) -> str | None:
    """``${Status}`` ("install ok installed") → its last word, the package's state."""
    words = status.split()
    if len(words) != 3:
        return None
    return words[2]


@dataclass(frozen=True)
class Stat:
    kind: str
    mode: int
    owner: str
    group: str
    uid: int
    gid: int
    size: int


STAT_FORMAT = "%F|%a|%U|%G|%u|%g|%s"


def parse_stat(text: str) -> Stat | None:
    parts = text.strip().split("|")
    if len(parts) != 7:
        return None
    try:
        return Stat(
            parts[0],
            int(parts[1], 8),
            parts[2],
            parts[3],
            int(parts[4]),
            int(parts[5]),
            int(parts[6]),
        )
    except ValueError:
        return None


#: "No such file or directory" in English and French (coreutils, glibc strerror).
NO_SUCH_FILE = ("no such file or directory", "aucun fichier ou dossier de ce type")


def says_no_such_file(result: CommandResult) -> bool:
    text = result.stderr.lower()
    # 126/127: the tool itself is missing (env(1) says "No such file" about it too).
    return result.rc not in (0, 126, 127) and any(s in text for s in NO_SUCH_FILE)


@dataclass(frozen=True)
class DiskFree:
    avail_mib: int
    used_percent: int
    size_mib: int
    target: str
    line: str


def parse_df(text: str) -> DiskFree | None:
    """``df -B1M --output=avail,pcent,size,target``: the header is localised, values are not."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 2:
        return None
    # The target is the rest of the line, right-stripped (not ``(/.*?)\s*``: quadratic).
    m = re.fullmatch(r"\s*(\d+)\s+(\d+|-)%?\s+(\d+)\s+(/.*)", lines[1])
    if not m or m.group(2) == "-":
        return None
    target = m.group(4).rstrip()
    return DiskFree(int(m.group(1)), int(m.group(2)), int(m.group(3)), target, lines[1].strip())


@dataclass(frozen=True)
class FstabEntry:
    spec: str
    file: str
    vfstype: str
    options: list[str]
    line: str


def _unoctal(text: str) -> str:
    # fstab escapes spaces and tabs in paths as \040 and \011.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def parse_fstab(text: str) -> list[FstabEntry]:
    entries = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split()
        if len(fields) < 3:
            continue  # mount(8) ignores such lines too; they cannot declare our mount
        options = fields[3].split(",") if len(fields) > 3 else ["defaults"]
        entries.append(
            FstabEntry(
                _unoctal(fields[0]),
                _unoctal(fields[1]).rstrip("/") or "/",
                fields[2],
                options,
                stripped,
            )
        )
    return entries


@dataclass
class ResolvConf:
    nameservers: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def parse_resolv_conf(text: str) -> ResolvConf:
    conf = ResolvConf()
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            conf.nameservers.append(words[1])
            conf.lines.append(line.strip())
        elif words[0] in ("search", "domain"):
            # glibc: the last search/domain line wins.
            conf.search = [w.rstrip(".").lower() for w in words[1:]]
            conf.lines.append(line.strip())
    return conf


def parse_json(text: str) -> Any:
    if not text.strip():
        raise ValueError("empty output")
    return json.loads(text)


# --------------------------------------------------------------------------------------------
# sshd, lpstat


def parse_sshd_t(text: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key and key.lower() not in settings:
            settings[key.lower()] = value.strip()
    return settings


def parse_lpstat_printer(text: str, queue: str) -> tuple[bool | None, str]:
    """``lpstat -p QUEUE``: enabled?, the line (C or French locale)."""
    q = re.escape(queue)
    for line in text.splitlines():
        if re.match(rf"^(?:printer|l['’]imprimante|imprimante)\s+{q}\b", line, re.I):
            low = fold(line)
            if "disabled" in low or "desactivee" in low:
                return False, line.strip()
            if "enabled" in low or "activee" in low or " is idle" in low or "printing" in low:
                return True, line.strip()
            return None, line.strip()
    return None, ""


def parse_lpstat_accepting(text: str, queue: str) -> tuple[bool | None, str]:
    q = re.escape(queue)
    for line in text.splitlines():
        if re.match(rf"^{q}\s", line):
            low = fold(line)
            if "not accepting" in low or "n'accepte pas" in low or "n’accepte pas" in low:
                return False, line.strip()
            if "accepting" in low or "accepte" in low:
                return True, line.strip()
            return None, line.strip()
    return None, ""


def parse_lpstat_default(text: str) -> tuple[str | None, str]:
    """``lpstat -d``: the default queue ("" for none), or None if the output is not lpstat's."""
    for line in text.splitlines():
        low = fold(line.strip())
        if low.startswith(("no system default", "pas de destination")):
            return "", line.strip()
        m = re.match(
            r"^(?:system default destination|destination systeme par defaut)\s*:\s*(\S+)", low
        )
        if m:
            # take the name from the original line: queue names keep their case
            return line.rsplit(":", 1)[1].strip(), line.strip()
    return None, ""
