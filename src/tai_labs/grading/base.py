"""The check plugin contract and the registry of checks.

A check is split in two, as in netlab's validation plugins: ``collect`` asks the lab (through
sessions only) and ``judge`` is a pure function of what was collected. Check modules (the
project's live in ``graders/``) register their checks on import and are declared under the
``tai_labs.checks`` entry-point group.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import CHECK_PLUGINS, ParamsT, Plugin, Registry

#: The session a check's ``collect`` receives: ``CommandSession``, ``PowerShellSession``,
#: ``DirectorySession`` or ``DeviceSession`` (tai_labs.sessions.base), as ``session`` says.
SessionT = TypeVar("SessionT")

#: Seconds one check may take on one node, collect and judge together (``Check.time_limit``):
#: past it the check is ``error`` and grading goes on with the next one.
CHECK_TIME_LIMIT = 120.0


class Sessions(Protocol):
    """Where checks get their sessions (``lab.sessions.SessionPool``)."""

    def get(self, node: str, kind: str) -> Any:
        """The session of ``kind`` ("command", "powershell", "directory", "device") to node."""


class Check(Plugin[ParamsT], Generic[ParamsT, SessionT]):
    """A named, parameterised check, generic over its ``Params`` and the session it asks."""

    #: The protocol family the check needs: "command", "powershell", "directory", "device".
    session: ClassVar[str] = "command"
    #: Seconds the check may take on one node (collect and judge); a check that needs longer
    #: (a DHCP exchange, a slow service) says so here.
    time_limit: ClassVar[float] = CHECK_TIME_LIMIT
    #: True only if output cut at MAX_OUTPUT_BYTES (tai_labs.bounded_output) cannot change
    #: the judgement (it reads only the first lines, say); otherwise cut evidence is ``error``.
    truncation_harmless: ClassVar[bool] = False

    @abstractmethod
    def collect(self, session: SessionT, params: ParamsT) -> Evidence:
        """Ask the target through ``session`` only and record every command with its output.

        Raises ``SessionError`` when the node cannot be asked; the verdict is then ``error``.
        """

    @abstractmethod
    def judge(self, evidence: Evidence, params: ParamsT) -> Judgement:
        """A pure function of the evidence: pass or fail and why, in French and English;
        ``error`` (never pass) for empty or unexpected output. ``evidence.baseline`` holds
        what ``identify`` recorded at exam start."""

    def identify(self, session: SessionT, params: ParamsT) -> dict[str, str]:
        """The identities of the objects the check is about, as they are now (a name of the
        check's choosing to an identifier that survives renames and not re-creation, such as
        an objectGUID). Recorded at exam start; ``judge`` then finds them in
        ``evidence.baseline``. Most checks judge a state, not an object: none by default."""
        return {}


CHECKS: Registry[Check[Any, Any]] = CHECK_PLUGINS.view(Check)
register_check = CHECKS.register
