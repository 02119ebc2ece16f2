"""Free text judged by its effect: concepts named in French or English, fields parsed as
fields (issue 12, §7 and §8), and "à apprécier" when the text cannot be judged reliably."""

from __future__ import annotations

from graderkit import evidence, out

from tai_labs.grading.model import Verdict
from tai_labs.grading.parsers import lexicon

PASS, FAIL = Verdict.PASS, Verdict.FAIL
STAT = out(0, "regular file|644|alice|alice|1000|1000|300\n")
FIELDS = ["Priorité", "Statut"]


def test_concepts_in_french_and_english() -> None:
    assert lexicon.find_concept("Diagnostic : DISQUE SATURÉ par un fichier", "disque")
    assert lexicon.find_concept("Diagnostic: disk full (no space left)", "disque")
    assert lexicon.find_concept("plus de place sur la partition", "disque")
    # A term of the concept names the concept too, and accents/case do not matter.
    assert lexicon.find_concept("Le mandataire configuré n'existe pas", "proxy")
    assert lexicon.find_concept("RESOLU", "Résolu")
    # Word boundaries: "disk" is not in "diskless", "proxy" not in "proxymity".
    assert lexicon.find_concept("poste diskless", "disque") is None
    assert lexicon.find_concept("proxymity", "proxy") is None
    # A negated term does not name the concept.
    assert lexicon.find_concept("Statut : non résolu", "résolu") is None
    assert lexicon.find_concept("not resolved yet", "resolu") is None
    assert lexicon.find_concept("pas de proxy configuré", "proxy") is None
    assert lexicon.find_concept("unresolved", "resolu") is None
    # A word in no concept is its own term.
    assert lexicon.find_concept("le pare-feu bloquait", "pare-feu")
    assert lexicon.find_concept("le pare feu", "pare-feu")


def test_field_value_is_its_leading_term() -> None:
    assert lexicon.value_is("Résolu", "Résolu")
    assert lexicon.value_is("clos (confirmé par l'utilisatrice)", "Résolu")
    assert lexicon.value_is("**Resolved**", "Résolu")
    assert not lexicon.value_is("En cours", "Résolu")
    assert not lexicon.value_is("non résolu", "Résolu")
    assert not lexicon.value_is("En cours, résolu demain", "Résolu")
    assert lexicon.value_is("P1 (haute)", "P1")
    assert not lexicon.value_is("P2 (P1 si aggravation)", "P1")
    assert not lexicon.value_is("P12", "P1")


def _ticket(judge, text: str, **params):  # type: ignore[no-untyped-def]
    ev = evidence(stat=STAT, content=out(0, text))
    return judge("record.report", ev, path="/t.txt", fields=FIELDS, **params)


def test_status_and_priority_are_fields(judge) -> None:
    values = {"Priorité": "P1", "Statut": "Résolu"}
    assert _ticket(judge, "Priorité : P1\nStatut : Résolu\n", values=values).verdict is PASS
    assert _ticket(judge, "Priorité : P1\nStatut : Clos\n", values=values).verdict is PASS
    # "En cours" with "non résolu" elsewhere: the old substring search passed it.
    wrong = "Priorité : P1\nStatut : En cours\nSuivi : non résolu, résolu après rappel ?\n"
    j = _ticket(judge, wrong, values=values)
    assert j.verdict is FAIL and "En cours" in j.why_fr and not j.review
    j = _ticket(judge, "Priorité : P2 (P1 si aggravation)\nStatut : Résolu\n", values=values)
    assert j.verdict is FAIL and "P2" in j.decisive


def test_unnamed_concept_goes_to_the_jury(judge) -> None:
    fields = ["Diagnostic", "Intervention"]
    fr = "Diagnostic : disque saturé par un fichier temporaire\nIntervention : suppression\n"
    ev = evidence(stat=STAT, content=out(0, fr))
    assert judge("record.report", ev, path="/r", fields=fields, mentions=["disque"]).verdict is PASS
    en = "Diagnostic : no space left on the disk\nIntervention : cleaned up\n"
    ev = evidence(stat=STAT, content=out(0, en))
    assert judge("record.report", ev, path="/r", fields=fields, mentions=["disque"]).verdict is PASS
    other = "Diagnostic : la partition était remplie à 100 %\nIntervention : nettoyage\n"
    ev = evidence(stat=STAT, content=out(0, other))
    j = judge("record.report", ev, path="/r", fields=fields, mentions=["disque"])
    # Not credited automatically; the jury reads the passage that states the cause.
    assert j.verdict is FAIL and "remplie à 100 %" in j.review and "jury" in j.why_fr


def test_review_reaches_the_reports() -> None:
    """A fail flagged for the jury earns nothing and every report says the jury decides."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from test_junit import _report  # type: ignore[import-not-found]

    from tai_labs.reports.grading import to_html, to_json, to_junit

    report = _report()
    checks = list(report.checks)
    checks[2] = checks[2].model_copy(update={"review": "Diagnostic : partition remplie à 100 %"})
    flagged = report.model_copy(update={"checks": checks})
    assert flagged.checks[2].verdict is FAIL and flagged.checks[2].points == 0
    assert "À apprécier par le jury" in to_html(flagged) and "remplie à 100 %" in to_html(flagged)
    assert 'type="review"' in to_junit(flagged) and "à apprécier" in to_junit(flagged)
    assert '"review": "Diagnostic : partition' in to_json(flagged)
