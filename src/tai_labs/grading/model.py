"""What grading produces: evidence collected, a judgement, and a verdict per check."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from tai_labs.sessions.base import CommandResult


class Verdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # could not judge: unreachable node, timeout, unexpected output
    SKIPPED = "skipped"  # a prerequisite check did not pass

    @property
    def label_fr(self) -> str:
        return {"pass": "réussi", "fail": "échoué", "error": "erreur", "skipped": "non évalué"}[
            self.value
        ]


@dataclass
class Evidence:
    """What ``collect`` gathered: the commands run with their output, and parsed facts."""

    commands: list[CommandResult] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    #: The identities (``Check.identify``) of the check's objects recorded at exam start, set
    #: by the runner before ``judge``: an object replaced since is not the object.
    baseline: dict[str, str] = field(default_factory=dict)

    def add(self, result: CommandResult) -> CommandResult:
        self.commands.append(result)
        return result


@dataclass(frozen=True)
class Judgement:
    """``judge``'s answer: the verdict and why, in French (jury) and English (logs)."""

    verdict: Verdict
    why_fr: str
    why_en: str
    #: The part of the evidence that decided (a line of output, an attribute value).
    decisive: str = ""
    #: On a fail the grader cannot judge reliably (free text): the passage the jury must read.
    #: The verdict stays ``fail`` (no points awarded automatically); the jury decides.
    review: str = ""

    @classmethod
    def passed(cls, why_fr: str, why_en: str, decisive: str = "") -> Judgement:
        return cls(Verdict.PASS, why_fr, why_en, decisive)

    @classmethod
    def failed(cls, why_fr: str, why_en: str, decisive: str = "") -> Judgement:
        return cls(Verdict.FAIL, why_fr, why_en, decisive)

    @classmethod
    def for_jury(cls, why_fr: str, why_en: str, passage: str) -> Judgement:
        """Not credited automatically, shown "à apprécier par le jury" with ``passage``."""
        return cls(Verdict.FAIL, why_fr, why_en, passage, review=passage or "(texte vide)")

    @classmethod
    def error(cls, why_fr: str, why_en: str, decisive: str = "") -> Judgement:
        return cls(Verdict.ERROR, why_fr, why_en, decisive)
