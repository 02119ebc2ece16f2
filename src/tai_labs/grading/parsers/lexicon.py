"""Concepts named in what a candidate writes, and the value of a report's field.

A jury reads "disque saturé", "plus de place sur le disque" and "disk full" as the same cause.
A concept is a list of French and English terms; a term is found in folded text (case and
accents ignored) between word boundaries, and an occurrence preceded by a negation ("non
résolu", "not resolved", "pas de proxy") does not name the concept.

A field's value is judged on its leading term, not searched: "Statut : En cours" with "non
résolu" elsewhere is not resolved, "Priorité : P2 (P1 si …)" is P2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tai_labs.grading.parsers.evidence import fold

#: Concept -> its terms (French and English, as written; matched folded). A scenario names a
#: concept by its key or by any of its terms; a word that is in no concept is its own term.
CONCEPTS: dict[str, tuple[str, ...]] = {
    "resolu": (
        "résolu", "résolue", "resolved", "solved", "clos", "close", "clôturé", "clôturée",
        "closed", "fermé", "fermée", "terminé", "terminée", "done", "réglé", "réglée",
    ),
    "en cours": ("en cours", "in progress", "ouvert", "ouverte", "open", "en attente", "pending"),
    "disque": (
        "disque", "disque plein", "disque saturé", "espace disque", "espace libre",
        "plus de place", "manque de place", "saturation", "partition pleine", "stockage",
        "disk", "disk full", "disk space", "free space", "no space left", "storage",
    ),
    "proxy": (
        "proxy", "mandataire", "serveur mandataire", "http_proxy", "https_proxy",
        "proxy server",
    ),
    "dns": ("dns", "résolution de noms", "resolution des noms", "serveur de noms", "name server",
            "nameserver", "name resolution", "resolv.conf"),
}  # fmt: skip

#: Words that, right before a term, deny it ("non résolu", "not resolved", "pas de proxy").
_NEGATIONS = ("non", "pas", "pas de", "pas d'", "not", "no", "never", "jamais", "aucun", "aucune")
_NEGATED = re.compile(r"(?:\b(?:" + "|".join(re.escape(n) for n in _NEGATIONS) + r")[\s-]*)$")


def terms_of(name: str) -> tuple[str, ...]:
    """The terms naming ``name``: its concept's if it is a concept key or term, else itself."""
    key = fold(name).strip()
    for concept, terms in CONCEPTS.items():
        if key == fold(concept) or key in (fold(t) for t in terms):
            return terms
    return (name,)


def _pattern(term: str) -> re.Pattern[str]:
    # Words joined by spaces, hyphens or underscores alike: "pare-feu" is "pare feu".
    words = [re.escape(w) for w in re.split(r"[\s_-]+", fold(term).strip()) if w]
    return re.compile(r"(?<!\w)" + r"[\s_-]+".join(words) + r"(?!\w)")


@dataclass(frozen=True)
class Mention:
    """Where a concept is named: the term found and the line it is on."""

    term: str
    line: str


def find_concept(text: str, name: str) -> Mention | None:
    """The first line naming ``name`` (a concept or a plain term) without negating it."""
    patterns = [(t, _pattern(t)) for t in terms_of(name)]
    for line in text.splitlines():
        folded = fold(line)
        for term, pattern in patterns:
            for m in pattern.finditer(folded):
                if not _NEGATED.search(folded[: m.start()]):
                    return Mention(term, line.strip())
    return None


def value_is(value: str, expected: str) -> bool:
    """A field's value is ``expected`` (or a term of its concept): its leading term, not a
    word found further on. "Résolu (confirmé par l'utilisateur)" is resolved, "non résolu",
    "En cours, résolu demain" and "P2 (P1 si aggravation)" are not what they mention later."""
    folded = fold(value).strip().lstrip("*_-:>» \t").strip()
    return any(_pattern(term).match(folded) for term in terms_of(expected))
