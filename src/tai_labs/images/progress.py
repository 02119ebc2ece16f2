"""Progress reporting of image builds, independent of how the CLI draws it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BuildProgress:
    """One progress report of one image build.

    ``percent`` is the whole build of ``image`` (0-100); ``step`` names the current step.
    ``step`` is ``"cached"`` when the image came from the cache, ``"done"`` at the end.
    """

    image: str
    step: str
    step_index: int
    step_count: int
    percent: float
    detail: str = ""


ProgressCallback = Callable[[BuildProgress], None]


class StepTracker:
    """Turns (step, fraction of step) into overall percentages using step weights."""

    def __init__(
        self, image: str, steps: list[tuple[str, float]], cb: ProgressCallback | None
    ) -> None:
        self.image = image
        self.steps = steps
        self.total = sum(w for _, w in steps)
        self.cb = cb
        self.index = 0
        self._last = -1.0

    def begin(self, step: str, detail: str = "") -> None:
        names = [n for n, _ in self.steps]
        self.index = names.index(step)
        self.update(0.0, detail)

    def update(self, fraction: float, detail: str = "") -> None:
        done = sum(w for _, w in self.steps[: self.index])
        weight = self.steps[self.index][1]
        percent = 100.0 * (done + weight * max(0.0, min(1.0, fraction))) / self.total
        # apt reports hundreds of tiny steps; only forward visible changes.
        if self.cb and (percent - self._last >= 0.5 or fraction in (0.0, 1.0)):
            self._last = percent
            self.cb(
                BuildProgress(
                    self.image,
                    self.steps[self.index][0],
                    self.index,
                    len(self.steps),
                    percent,
                    detail,
                )
            )

    def finish(self, step: str = "done") -> None:
        if self.cb:
            n = len(self.steps)
            self.cb(BuildProgress(self.image, step, n, n, 100.0))


# debootstrap prints "I: <phase>" lines; these are rough positions of each phase.
_DEBOOTSTRAP_PHASES = [
    ("Retrieving Release", 0.02),
    ("Retrieving Packages", 0.04),
    ("Resolving dependencies", 0.06),
    ("Retrieving ", 0.10),
    ("Validating ", 0.20),
    ("Extracting ", 0.35),
    ("Installing core packages", 0.45),
    ("Unpacking required packages", 0.50),
    ("Configuring required packages", 0.60),
    ("Unpacking the base system", 0.75),
    ("Configuring ", 0.85),
    ("Base system installed successfully", 1.0),
]


def debootstrap_fraction(line: str) -> float | None:
    if not line.startswith("I: "):
        return None
    text = line[3:]
    for prefix, fraction in _DEBOOTSTRAP_PHASES:
        if text.startswith(prefix):
            return fraction
    return None


_APT_STATUS = re.compile(r"^(dlstatus|pmstatus):[^:]*:(?P<pct>[0-9.]+):(?P<msg>.*)$")


def apt_fraction(line: str) -> tuple[float, str] | None:
    """Map an APT::Status-Fd line to a fraction of the install step.

    Downloads fill 0-40% of the step, dpkg runs 40-100%.
    """
    m = _APT_STATUS.match(line)
    if not m:
        return None
    pct = float(m["pct"]) / 100.0
    if line.startswith("dlstatus"):
        return 0.4 * pct, m["msg"]
    return 0.4 + 0.6 * pct, m["msg"]
