"""Base of the checks on Linux nodes (grader modules ``graders/linux_*.py``)."""

from __future__ import annotations

from tai_labs.grading.base import Check

LINUX = frozenset({"linux-client", "linux-server", "ad-dc", "router", "switch"})


class LinuxCheck(Check):
    node_kinds = LINUX
