"""The library's refusals of an instructor's action, said in French on the page.

The clock and the access (``exam.day``, ``exam.clock``, ``exam.freeze``, ``exam.access``)
raise English messages for the CLI; the instructor's pages show each known one in French,
with the figures it carries. One not in the table still shows, prefixed, rather than a
blank "erreur" (tests/unit/test_portal_instructor.py says each pattern is still raised).
"""

from __future__ import annotations

import re

from tai_labs.errors import TaiLabsError
from tai_labs.lab.store import LabBusyError

# (pattern of the library's message, French with the pattern's groups)
_TABLE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), french)
    for pattern, french in (
        (
            r"session \S+ has ended: it does not start again",
            "La session est terminée : elle ne redémarre pas.",
        ),
        (
            r"session \S+ is created: only a session whose labs are up starts",
            "Les labs de la session ne sont pas encore construits : lancez "
            "« tai-labs session up » avant de la démarrer.",
        ),
        (
            r"session \S+ is (?P<state>\w+): it has not started, nobody can end",
            "La session n'a pas commencé : il n'y a personne à terminer.",
        ),
        (
            r"session \S+: access cannot open: (?P<why>.*)",
            "L'accès des candidats ne peut pas s'ouvrir (un lab qui n'est pas prêt, ou un "
            "billet pas imprimé) : {why}.",
        ),
        (
            r"session \S+ has no duration: extra time means nothing",
            "Session d'entraînement : sans échéance, le temps supplémentaire n'a pas de sens.",
        ),
        (
            r"extra time of (?P<minutes>-?\d+) min is out of range",
            "{minutes} min de temps supplémentaire : hors limites (de 0 à 720 min, le total "
            "du candidat).",
        ),
        (
            r"(?P<login>\S+) ended at (?P<at>[\d:]+): too late for extra time",
            "{login} a terminé à {at} : trop tard pour du temps supplémentaire.",
        ),
        (
            r"with (?P<minutes>\d+) min of extra time, (?P<login>\S+)'s deadline "
            r"\((?P<at>[\d:]+)\) would be past already",
            "Avec {minutes} min de temps supplémentaire, la fin de {login} ({at}) serait "
            "déjà passée : terminez plutôt son épreuve.",
        ),
        (
            r"(?P<login>\S+) ended while this command ran: no extra time given",
            "{login} a terminé entre-temps : aucun temps supplémentaire donné.",
        ),
        (
            r"no candidate '(?P<login>[^']*)' in session \S+",
            "Pas de candidat « {login} » dans cette session.",
        ),
        (
            r"the access of (?P<logins>.+?) could not be closed .*",
            "L'accès de {logins} n'a pas pu être fermé (leurs labs sont figés) : "
            "recommencez « Terminer », la fermeture est retentée.",
        ),
        (
            r"(?P<login>\S+) has \d+ labs of (?P<scenario>\S+) with seed \d+: .*",
            "{login} a plusieurs labs de {scenario} : supprimez ceux en trop "
            "(« tai-labs down LAB ») pour que le jury sache lequel noter.",
        ),
    )
)


def in_french(exc: TaiLabsError) -> str:
    """What to show the instructor for this refusal."""
    if isinstance(exc, LabBusyError):
        return (
            "Un lab est en cours de modification par une autre commande : "
            "réessayez dans un instant."
        )
    for pattern, french in _TABLE:
        match = pattern.fullmatch(exc.message)
        if match is not None:
            return french.format(**match.groupdict())
    return f"Refusé par tai-labs : {exc.message}"
