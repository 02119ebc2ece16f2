"""A node's print queues asked by the host's own ``lpstat``, over IPP, in the node's network.

The node's cupsd listens on ``localhost:631`` in the node's network namespace; the host's
``lpstat`` (cups-client) runs there under ``nsenter --net`` with ``-h 127.0.0.1:631``, so
the answer comes from the scheduler itself and no program of the node (a replaced
``/usr/bin/lpstat``, ``ld.so.preload``) takes part. The host's own CUPS files never do:
``CUPS_SERVERROOT`` and ``HOME`` point at an empty private folder (no ``client.conf``, no
``lpoptions``), and the environment is fixed (no ``LPDEST``/``PRINTER``).

The one answer the scheduler does not hold is the default a node's users get from the
node's ``/etc/cups/lpoptions`` (written by ``lpoptions -d`` as root, a valid way to set a
default for everyone); the caller reads that file from the node's disk on the host and
passes its text, and it wins over the scheduler's default as it would on the node.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence

from tai_labs.providers.base import ExecResult
from tai_labs.providers.errors import EngineError
from tai_labs.providers.netns import NetNamespace

#: The scheduler as the node's own clients reach it by default (cupsd.conf ``Listen
#: localhost:631``), seen from inside the node's network namespace.
SCHEDULER = "127.0.0.1:631"
#: A queue name as CUPS accepts it (no space, slash or '#'), and nothing an option could be.
QUEUE = re.compile(r"[^\s/#-][^\s/#]{0,126}")
_DEFAULT_LINE = re.compile(r"^\s*Default\s+([^\s/#]+)", re.MULTILINE | re.IGNORECASE)


def lpstat_query(words: Sequence[str]) -> bool:
    """``words`` is one of the read-only ``lpstat`` calls the host answers for a node:
    ``-r``, ``-d``, ``-p QUEUE`` or ``-a QUEUE``."""
    args = list(words[1:]) if words and words[0] == "lpstat" else None
    if args is None:
        return False
    if args in (["-r"], ["-d"]):
        return True
    return len(args) == 2 and args[0] in ("-p", "-a") and QUEUE.fullmatch(args[1]) is not None


def lpoptions_default(text: str) -> str | None:
    """The ``Default`` queue of an lpoptions file (``Default QUEUE[/instance] options``)."""
    found = _DEFAULT_LINE.search(text)
    return found.group(1) if found else None


def lpstat(
    netns: NetNamespace,
    words: Sequence[str],
    *,
    node_lpoptions: str = "",
    timeout: float = 30.0,
) -> ExecResult:
    """The host's ``lpstat`` answer to ``words`` (see ``lpstat_query``) from the node's
    scheduler, with the node's system-wide ``lpoptions`` default applied to ``-d``."""
    if not lpstat_query(words):
        raise EngineError(f"not a read-only lpstat query: {' '.join(words)}")
    if list(words[1:]) == ["-d"]:
        default = lpoptions_default(node_lpoptions)
        if default is not None:
            return ExecResult(0, f"system default destination: {default}\n", "")
    folder = tempfile.mkdtemp(prefix="tai-labs-cups-")  # 0700, empty: no client.conf
    try:
        env = {"CUPS_SERVERROOT": folder, "HOME": folder, "LC_ALL": "C", "LANG": "C"}
        return netns.run(["lpstat", "-h", SCHEDULER, *words[1:]], timeout=timeout, env=env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
