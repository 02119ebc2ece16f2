"""Reset, snapshot and revert an existing lab, each while holding the lab's lock."""

from __future__ import annotations

from collections.abc import Sequence

from tai_labs.lab import lifecycle
from tai_labs.lab.lifecycle import EXAM_START, Reporter
from tai_labs.lab.runtime import open_lab
from tai_labs.lab.store import lab_lock


def _quiet(_: lifecycle.Event) -> None:
    pass


def reset_lab(lab_id: str, nodes: Sequence[str] = (), report: Reporter = _quiet) -> None:
    """Put a lab (or some of its nodes) back as the candidate got it."""
    with lab_lock(lab_id):
        lifecycle.revert_to(open_lab(lab_id), EXAM_START, nodes, report=report)


def snapshot_lab(lab_id: str, name: str) -> None:
    """Save every node of a lab under a name."""
    with lab_lock(lab_id):
        lifecycle.take_snapshot(open_lab(lab_id), name)


def revert_lab(lab_id: str, name: str, report: Reporter = _quiet) -> None:
    """Put every node of a lab back to a named snapshot and wait until it is ready."""
    with lab_lock(lab_id):
        lifecycle.revert_to(open_lab(lab_id), name, report=report)
