"""Names typed on the command line, checked before anything touches a file or a lock.

A lab id, node, candidate or snapshot name ends up in paths (the lab's folder, its lock), in
host resource names and in reports; ``../x``, ``a*``, ``$(rm)`` or a trailing newline must be
refused here, with a message that says what a valid one looks like, never reach them.
"""

from __future__ import annotations

import re

from tai_labs.errors import UsageError
from tai_labs.providers.naming import LAB_ID_LEN, is_lab_id

_NODE = re.compile(r"[a-z][a-z0-9-]{0,14}")
_SNAPSHOT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
# Letters of any language, digits, spaces, apostrophes, dots and dashes: "Élodie N'Diaye".
_CANDIDATE = re.compile(r"[^\W_](?:[\w .'’-]{0,62}[\w.])?")


def lab_id(value: str) -> str:
    if not is_lab_id(value):
        raise UsageError(
            f"invalid lab id {value!r}",
            hint=f"a lab id is {LAB_ID_LEN} lowercase letters or digits, as `tai-labs ls` shows",
        )
    return value


def _checked(value: str, pattern: re.Pattern[str], what: str, hint: str) -> str:
    if not pattern.fullmatch(value):
        raise UsageError(f"invalid {what} {value!r}", hint=hint)
    return value


def node_name(value: str) -> str:
    return _checked(
        value,
        _NODE,
        "node name",
        "node names are lowercase letters, digits and dashes, as `tai-labs status` shows",
    )


def candidate_name(value: str) -> str:
    return _checked(
        value,
        _CANDIDATE,
        "candidate name",
        "use letters, digits, spaces, apostrophes, dots and dashes (64 at most)",
    )


def snapshot_name(value: str) -> str:
    return _checked(value, _SNAPSHOT, "snapshot name", "use letters, digits, - and _ (40 at most)")
