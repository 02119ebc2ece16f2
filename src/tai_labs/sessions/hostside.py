"""A container node's command session whose reading commands the host answers itself.

Graders keep asking for ``stat``, ``head -c``, ``cat`` and ``sha256sum`` of a path. On a
container node those are answered from the node's layers on the host's disk
(``providers.rootfs``), parsed by our code, with the output those tools print, so judges
are unchanged and nothing of the node (its binaries, ``ld.so.preload``, its shell) takes
part. The result says ``source="host"`` and ``via="rootfs"`` in the evidence. Anything else,
and paths on the node's kernel file systems (``/proc``, ``/run``...), go to the node's own
session and are marked node-side.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Sequence

from tai_labs.providers.base import HostView
from tai_labs.providers.rootfs import NotOnDisk, OverlayTree
from tai_labs.sessions.base import CommandResult, CommandSession

#: ``env LC_ALL=C LANG=C`` (grading.parsers.C_LOCALE): the host's answer is untranslated.
_C_LOCALE = ("env", "LC_ALL=C", "LANG=C")
#: What ``cat`` returns at most (the largest read cap of the graders, linux.file's).
CAT_LIMIT = 1024 * 1024
#: Longest file hashed from the host; a longer one is an error, not minutes of grading.
HASH_LIMIT = 256 * 1024 * 1024
#: Longest /etc/passwd or /etc/group read to name owners.
_NAMES_LIMIT = 1024 * 1024
_STAT_FIELDS = set("FaUGugs")

Answer = Callable[[OverlayTree, list[str]], CommandResult | None]


class HostSideSession(CommandSession):
    """``inner`` (SSH or exec) for what must run in the node; the host for what it can read."""

    shell = "posix"

    def __init__(self, inner: CommandSession, view: HostView) -> None:
        self.inner = inner
        self.view = view

    @property
    def transport(self) -> str:  # type: ignore[override]  # the inner channel's
        return self.inner.transport

    @property
    def node(self) -> str:
        return str(getattr(self.inner, "node", ""))

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        if input is None:
            answered = host_answer(self.view.files, list(argv))
            if answered is not None:
                return answered
        return self.inner.run(argv, timeout=timeout, input=input)

    def close(self) -> None:
        self.inner.close()


def host_answer(files: OverlayTree, argv: list[str]) -> CommandResult | None:
    """The host's answer to a reading command, or None when only the node can answer."""
    command = shlex.join(argv)
    words = argv[3:] if tuple(argv[:3]) == _C_LOCALE else argv
    answer = _ANSWERS.get(words[0]) if words else None
    if answer is None:
        return None
    try:
        result = answer(files, words)
    except NotOnDisk:
        return None
    if result is None:
        return None
    return CommandResult(result.rc, result.stdout, result.stderr, command, "host", "rootfs")


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


def _stat(files: OverlayTree, words: list[str]) -> CommandResult | None:
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


def _head(files: OverlayTree, words: list[str]) -> CommandResult | None:
    if len(words) < 3 or words[1] != "-c" or not words[2].isdigit():
        return None
    path = _path_arg(words, 2)
    if path is None:
        return None
    try:
        data = files.read(path, int(words[2]))
    except IsADirectoryError:
        return _failed("head", f"error reading {shlex.quote(path)}: Is a directory")
    except OSError as exc:
        return _failed("head", f"cannot open {shlex.quote(path)} for reading: {_reason(exc)}")
    return CommandResult(0, data.decode(errors="replace"), "", "")


def _cat(files: OverlayTree, words: list[str]) -> CommandResult | None:
    path = _path_arg(words, 0)
    if path is None:
        return None
    try:
        data = files.read(path, CAT_LIMIT)
    except OSError as exc:
        return _failed("cat", f"{path}: {_reason(exc)}")
    return CommandResult(0, data.decode(errors="replace"), "", "")


def _sha256sum(files: OverlayTree, words: list[str]) -> CommandResult | None:
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


_ANSWERS: dict[str, Answer] = {
    "stat": _stat,
    "head": _head,
    "cat": _cat,
    "sha256sum": _sha256sum,
}
