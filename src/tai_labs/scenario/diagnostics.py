"""Diagnostics: what is wrong in a scenario, where, and how to fix it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tai_labs.errors import TaiLabsError

#: A path into a YAML document: mapping keys and sequence indexes.
KeyPath = tuple[str | int, ...]


def format_keypath(path: KeyPath) -> str:
    """``("checks", 2, "target")`` -> ``checks[2].target``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive, on Windows
        return str(path)
    return str(path) if rel.startswith("..") else rel


@dataclass(frozen=True, order=True)
class Location:
    file: Path
    line: int  # 1-based; 0 when only the file is known

    def __str__(self) -> str:
        name = display_path(self.file)
        return f"{name}:{self.line}" if self.line else name


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a scenario."""

    location: Location | None
    keypath: KeyPath
    message: str
    hint: str | None = None

    def format(self) -> str:
        where = f"{self.location}: " if self.location else ""
        key = f"{format_keypath(self.keypath)}: " if self.keypath else ""
        text = f"{where}{key}{self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def as_dict(self) -> dict[str, object]:
        return {
            "file": display_path(self.location.file) if self.location else None,
            "line": self.location.line if self.location else None,
            "key": format_keypath(self.keypath),
            "message": self.message,
            "hint": self.hint,
        }


def dedupe(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Drop repeats (the same problem seen in several variants), keep first-seen order."""
    seen: set[tuple[object, ...]] = set()
    out = []
    for diag in diagnostics:
        key = (diag.location, diag.keypath, diag.message)
        if key not in seen:
            seen.add(key)
            out.append(diag)
    return out


class ScenarioError(TaiLabsError):
    """A scenario is invalid; ``diagnostics`` lists every problem found."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        count = len(self.diagnostics)
        summary = f"{count} problem{'s' if count != 1 else ''} in scenario"
        super().__init__(summary + "\n" + "\n".join(d.format() for d in self.diagnostics))


#: Characters of a value quoted back in a message: enough to recognise it.
SHOWN_CHARS = 80


def shown_value(value: Any) -> str:
    """A value as a message quotes it: short, and never an error of its own (Python refuses to
    write out an integer of more than 4,300 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 512:
        return f"an integer of about {round(value.bit_length() * 0.30103)} digits"
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"
