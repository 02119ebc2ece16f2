"""Base of the checks on Linux nodes (grader modules ``graders/linux_*.py``)."""

from __future__ import annotations

from tai_labs.grading.base import Check
from tai_labs.kinds import kinds_where
from tai_labs.plugins import ParamsT
from tai_labs.sessions.base import CommandSession

LINUX = kinds_where(linux=True)


class LinuxCheck(Check[ParamsT, CommandSession]):
    node_kinds = LINUX
