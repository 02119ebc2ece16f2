"""Judging answers that may not decode: a value that does not parse is an error, never a guess."""

from __future__ import annotations

from collections.abc import Callable

from tai_labs.grading.model import Judgement

#: What a decoder raises on output it does not understand.
DECODING_ERRORS = (ValueError, KeyError, TypeError, IndexError)


def decoding(judge: Callable[[], Judgement], answer_fr: str, answer_en: str) -> Judgement:
    """Run ``judge``; if the answer does not decode, the verdict is ``error`` saying so.

    ``answer_fr``/``answer_en`` name what answered: "réponse de l'annuaire" / "directory answer".
    """
    try:
        return judge()
    except DECODING_ERRORS as exc:
        return Judgement.error(f"{answer_fr} inattendue : {exc}", f"unexpected {answer_en}: {exc}")
