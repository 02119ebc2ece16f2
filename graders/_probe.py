"""What the live probes share: the nodes they run on, host names, the script runner.

A probe runs from inside the lab, on a chosen node, over its command session. A probe that
expects success fails when the service cannot be reached from the node (that is the state the
candidate must fix: wrong resolver, firewall, address). A probe that expects a refusal or an
absence passes only on a definite answer (NXDOMAIN, access denied): a timeout proves nothing,
so it is ``error``. Passwords go to the node on stdin, never in argv (argv is shown in the
evidence and in ``ps``).

The probes are in ``graders/probe_network.py`` (DNS, ping/TCP, DHCP) and
``graders/probe_access.py`` (SMB, Kerberos, HTTP).
"""

from __future__ import annotations

from tai_labs.grading import parsers as p
from tai_labs.grading.base import Check
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.kinds import NodeKind, kinds_where
from tai_labs.plugins import ParamsT
from tai_labs.sessions.base import CommandResult, CommandSession

# Not the switch, as before kinds became a table.
PROBE_NODES = kinds_where(linux=True) - {NodeKind.SWITCH}
HOST = r"^[A-Za-z0-9_.:-]+$"
#: Name-resolution failures as glibc and the tools print them (English and French).
NO_NAME = (
    "name or service not known",
    "nom ou service inconnu",
    "temporary failure in name resolution",
    "échec temporaire dans la résolution du nom",
    "no address associated",
)
#: The exit code of a probe script that could not set itself up (mktemp, read).
SCRIPT_FAILED = 125


class Probe(Check[ParamsT, CommandSession]):
    node_kinds = PROBE_NODES


def no_name(result: CommandResult) -> bool:
    """The tool said the host name does not resolve."""
    text = (result.stderr + result.stdout).lower()
    return any(s in text for s in NO_NAME)


def run_script(
    session: CommandSession,
    key: str,
    script: str,
    *args: str,
    timeout: float,
    secret: str | None = None,
    c_locale: bool = False,
) -> Evidence:
    """Evidence of one ``sh -c SCRIPT sh ARGS...`` run under ``key``; ``secret`` on stdin."""
    ev = Evidence()
    argv = [*(p.C_LOCALE if c_locale else []), "sh", "-c", script, "sh", *args]
    stdin = None if secret is None else secret + "\n"
    p.run(ev, session, key, argv, timeout=timeout, input=stdin)
    return ev


def script_output(ev: Evidence, key: str, what: str) -> CommandResult | Judgement:
    """The script's result, or ``error`` when the tool is missing or the script failed."""
    r = p.output(ev, key)
    if r is None or p.tool_missing(r) or r.rc == SCRIPT_FAILED:
        return p.not_run(r, what)
    return r
