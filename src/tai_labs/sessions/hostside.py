"""A container node's command session whose reading commands the host answers itself.

Graders keep asking for ``stat``, ``head -c``, ``cat``, ``sha256sum`` and ``getfacl -n -p``
(the POSIX ACL xattr parsed here) of a path, and for
``ip ... show`` and ``ss``. On a container node:

- file reads are answered from the node's layers on the host's disk (``providers.rootfs``),
  parsed by our code, with the output those tools print, so judges are unchanged
  (``via="rootfs"``);
- read-only ``ip`` and ``ss`` are the host's own binaries run in the node's network
  namespace only (``providers.netns``, ``via="netns"``): same iproute2 JSON, none of the
  node's files.

Nothing of the node (its binaries, ``ld.so.preload``, its shell) takes part, and the
evidence says ``source="host"``. Anything else, and paths on the node's kernel file systems
(``/proc``, ``/run``...), go to the node's own session and are marked node-side.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Sequence

from tai_labs.bounded_output import MAX_OUTPUT_BYTES
from tai_labs.providers import rootfs
from tai_labs.providers.base import HostView
from tai_labs.providers.cgroups import node_cgroup_procs
from tai_labs.providers.errors import EngineError
from tai_labs.providers.netns import NetNamespace
from tai_labs.providers.rootfs import NotOnDisk, OverlayTree
from tai_labs.sessions.base import CommandResult, CommandSession, SessionError
from tai_labs.sessions.deadline import budget

#: ``env LC_ALL=C LANG=C`` (grading.parsers.C_LOCALE): the host's answer is untranslated.
_C_LOCALE = ("env", "LC_ALL=C", "LANG=C")
#: What ``cat`` or ``head`` return at most: the output bound of every command; past it the
#: answer says stdout was cut, as a node-side channel would.
CAT_LIMIT = MAX_OUTPUT_BYTES
#: Longest file hashed from the host; a longer one is an error, not minutes of grading.
HASH_LIMIT = 256 * 1024 * 1024
#: Longest /etc/passwd or /etc/group read to name owners.
_NAMES_LIMIT = 1024 * 1024
_STAT_FIELDS = set("FaUGugs")

Answer = Callable[[HostView, list[str]], CommandResult | None]


class HostSideSession(CommandSession):
    """``inner`` (SSH or exec) for what must run in the node; the host for what it can read."""

    shell = "posix"

    def __init__(self, inner: CommandSession, view: HostView) -> None:
        self.inner = inner
        self.view = view
        self.netns = NetNamespace(view.init_pid)

    @property
    def transport(self) -> str:  # type: ignore[override]  # the inner channel's
        return self.inner.transport

    @property
    def fallback(self) -> str:
        """Why the wrapped channel is exec and not SSH (empty if SSH): for node-side items."""
        return str(getattr(self.inner, "fallback", ""))

    @property
    def node(self) -> str:
        return str(getattr(self.inner, "node", ""))

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        if input is None:
            answered = host_answer(self.view, list(argv))
            if answered is None and network_read(list(argv)):
                answered = self._in_netns(list(argv), timeout)
            if answered is not None:
                return answered
        return self.inner.run(argv, timeout=timeout, input=input)

    def _in_netns(self, argv: list[str], timeout: float) -> CommandResult:
        timeout = budget(timeout, f"{self.node}: `{shlex.join(argv)}`")
        try:
            result = self.netns.run(argv, timeout=timeout)
        except EngineError as exc:
            raise SessionError(f"{self.node}: {exc.message}") from exc
        return CommandResult(
            result.rc,
            result.stdout,
            result.stderr,
            shlex.join(argv),
            result.truncated,
            source="host",
            via="netns",
        )

    def close(self) -> None:
        self.netns.close()
        self.inner.close()


#: ``ip`` objects whose ``show``/``list`` only reads, and the global options allowed.
_IP_OBJECTS = {
    "addr": "address", "address": "address", "a": "address",
    "route": "route", "r": "route", "ro": "route",
    "link": "link", "l": "link",
    "neigh": "neigh", "neighbor": "neigh", "neighbour": "neigh", "n": "neigh",
    "rule": "rule", "ru": "rule",
}  # fmt: skip
_IP_OPTIONS = {"-j", "-json", "-4", "-6", "-d", "-details", "-s", "-stats", "-o", "-br", "-p"}
#: ``ss`` letters that only read (no -K kill, -p process walk, -D dump, -F filter file).
_SS_LETTERS = set("tuwxlanHe46oim")


def network_read(argv: list[str]) -> bool:
    """argv is a read-only ``ip ... show`` or ``ss`` the host may run in the namespace."""
    if not argv:
        return False
    if argv[0] == "ss":
        return all(
            a.startswith("-") and not a.startswith("--") and set(a[1:]) <= _SS_LETTERS
            for a in argv[1:]
        )
    if argv[0] != "ip":
        return False
    words = argv[1:]
    while words and words[0].startswith("-"):
        if words[0] not in _IP_OPTIONS:
            return False
        words = words[1:]
    if not words or words[0] not in _IP_OBJECTS:
        return False
    return len(words) == 1 or words[1] in ("show", "list", "ls", "sh")


def host_answer(view: HostView, argv: list[str]) -> CommandResult | None:
    """The host's answer to a reading command, or None when only the node can answer."""
    command = shlex.join(argv)
    words = argv[3:] if tuple(argv[:3]) == _C_LOCALE else argv
    answer = _ANSWERS.get(words[0]) if words else None
    if answer is None:
        return None
    try:
        result = answer(view, words)
    except NotOnDisk:
        return None
    if result is None:
        return None
    via = "cgroup" if result.command == "cgroup" else "rootfs"
    return CommandResult(
        result.rc, result.stdout, result.stderr, command, result.truncated, source="host", via=via
    )


def _path_arg(words: list[str], options: int) -> str | None:
    """The single absolute path after ``options`` words and an optional ``--``."""
    rest = words[1 + options :]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if len(rest) != 1 or not rest[0].startswith("/"):
        return None
    return rest[0]


def _failed(tool: str, text: str) -> CommandResult:
    return CommandResult(1, "", f"{tool}: {text}\n", "")


def _reason(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _stat(view: HostView, words: list[str]) -> CommandResult | None:
    files = view.files
    if len(words) < 3 or words[1] != "-c":
        return None
    fmt = words[2]
    path = _path_arg(words, 2)
    if path is None or not _plain_format(fmt):
        return None
    try:
        st = files.lstat(path)
    except OSError as exc:
        return _failed("stat", f"cannot statx {shlex.quote(path)}: {_reason(exc)}")
    users, groups = _names(files, "/etc/passwd"), _names(files, "/etc/group")
    values = {
        "F": st.kind,
        "a": f"{st.perms:o}",
        "U": users.get(st.uid, "UNKNOWN"),
        "G": groups.get(st.gid, "UNKNOWN"),
        "u": str(st.uid),
        "g": str(st.gid),
        "s": str(st.size),
    }
    out = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            out.append(values[fmt[i + 1]])
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return CommandResult(0, "".join(out) + "\n", "", "")


def _plain_format(fmt: str) -> bool:
    """Only the ``%X`` fields this answer knows, no escapes or widths."""
    if "\\" in fmt:
        return False
    parts = fmt.split("%")
    return all(p[:1] in _STAT_FIELDS for p in parts[1:])


def _names(files: OverlayTree, path: str) -> dict[int, str]:
    """id -> name from the node's passwd or group file, read from the host."""
    try:
        text = files.read(path, _NAMES_LIMIT).decode(errors="replace")
    except (OSError, NotOnDisk):
        return {}
    names: dict[int, str] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            names.setdefault(int(fields[2]), fields[0])
    return names


def _head(view: HostView, words: list[str]) -> CommandResult | None:
    files = view.files
    if len(words) < 3 or words[1] != "-c" or not words[2].isdigit():
        return None
    path = _path_arg(words, 2)
    if path is None:
        return None
    try:
        data = files.read(path, min(int(words[2]), CAT_LIMIT + 1))
    except IsADirectoryError:
        return _failed("head", f"error reading {shlex.quote(path)}: Is a directory")
    except OSError as exc:
        return _failed("head", f"cannot open {shlex.quote(path)} for reading: {_reason(exc)}")
    return _bounded(data)


def _cat(view: HostView, words: list[str]) -> CommandResult | None:
    files = view.files
    path = _path_arg(words, 0)
    if path is None:
        return None
    if view.cgroup_dir is not None and path.startswith("/sys/fs/cgroup/"):
        return _cgroup_procs(view.cgroup_dir, path)
    try:
        data = files.read(path, CAT_LIMIT + 1)
    except OSError as exc:
        return _failed("cat", f"{path}: {_reason(exc)}")
    return _bounded(data)


def _bounded(data: bytes) -> CommandResult:
    """Content kept to the output bound; past it, stdout is marked cut (bounded_output)."""
    cut = len(data) > CAT_LIMIT
    text = data[:CAT_LIMIT].decode(errors="replace")
    return CommandResult(0, text, "", "", ("stdout",) if cut else ())


def _cgroup_procs(cgroup_dir: str, path: str) -> CommandResult | None:
    """A node's ``cgroup.procs`` read in the host's hierarchy, pids as the node numbers them."""
    try:
        pids = node_cgroup_procs(cgroup_dir, path)
    except OSError as exc:
        return CommandResult(1, "", f"cat: {path}: {_reason(exc)}\n", "cgroup")
    if pids is None:
        return None
    return CommandResult(0, "".join(f"{pid}\n" for pid in pids), "", "cgroup")


def _sha256sum(view: HostView, words: list[str]) -> CommandResult | None:
    files = view.files
    path = _path_arg(words, 0)
    if path is None:
        return None
    try:
        digest = files.sha256(path, HASH_LIMIT)
    except OSError as exc:
        return _failed("sha256sum", f"{path}: {_reason(exc)}")
    if digest is None:
        return _failed("sha256sum", f"{path}: longer than {HASH_LIMIT} bytes, not hashed")
    return CommandResult(0, f"{digest}  {path}\n", "", "")


def _getfacl(view: HostView, words: list[str]) -> CommandResult | None:
    """``getfacl -n -p -- PATH`` from the ``system.posix_acl_access`` xattr parsed on the host
    (numeric ids as the node sees them), in getfacl's own layout; none of the node's code runs.
    """
    if words[1:4] != ["-n", "-p", "--"] or len(words) != 5 or not words[4].startswith("/"):
        return None
    path = words[4]
    try:
        st = view.files.lstat(path)
        entries = view.files.posix_acl(path)
    except OSError as exc:
        return _failed("getfacl", f"{path}: {_reason(exc)}")
    except ValueError as exc:
        return _failed("getfacl", f"{path}: {exc}")
    if entries is None:  # no ACL: the minimal one the mode makes
        entries = [
            (rootfs.ACL_USER_OBJ, (st.perms >> 6) & 7, 0),
            (rootfs.ACL_GROUP_OBJ, (st.perms >> 3) & 7, 0),
            (rootfs.ACL_OTHER, st.perms & 7, 0),
        ]
    lines = [f"# file: {path}", f"# owner: {st.uid}", f"# group: {st.gid}"]
    special = st.perms >> 9
    if special:
        flags = "".join(c if special & b else "-" for c, b in (("s", 4), ("s", 2), ("t", 1)))
        lines.append(f"# flags: {flags}")
    names = {
        rootfs.ACL_USER_OBJ: "user:",
        rootfs.ACL_USER: "user:{}",
        rootfs.ACL_GROUP_OBJ: "group:",
        rootfs.ACL_GROUP: "group:{}",
        rootfs.ACL_MASK: "mask:",
        rootfs.ACL_OTHER: "other:",
    }
    for tag, perms, ident in entries:
        rwx = "".join(c if perms & b else "-" for c, b in (("r", 4), ("w", 2), ("x", 1)))
        lines.append(f"{names[tag].format(ident)}:{rwx}")
    return CommandResult(0, "\n".join(lines) + "\n\n", "", "")


_ANSWERS: dict[str, Answer] = {
    "getfacl": _getfacl,
    "stat": _stat,
    "head": _head,
    "cat": _cat,
    "sha256sum": _sha256sum,
}
