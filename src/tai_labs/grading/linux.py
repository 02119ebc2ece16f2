"""Base of the checks on Linux nodes (grader modules ``graders/linux_*.py``)."""

from __future__ import annotations

from tai_labs.grading.base import Check
from tai_labs.plugins import ParamsT
from tai_labs.sessions.base import CommandSession

LINUX = frozenset({"linux-client", "linux-server", "ad-dc", "router", "switch"})


class LinuxCheck(Check[ParamsT, CommandSession]):
    node_kinds = LINUX
