"""Checks on what the candidate writes: intervention reports and asset inventories.

The record is the candidate's deliverable: a missing file, a missing field or machine is a
``fail``. A file whose layout the grader does not recognise (no ``Champ : valeur`` lines, no
table) is ``error``, so that the jury reads it instead of the grader rejecting it.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import Field

from tai_labs.grading import parsers as p
from tai_labs.grading.base import Check, register_check
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.grading.parsers import lexicon
from tai_labs.kinds import kinds_where
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import CommandSession

MAX_READ = 256 * 1024


def _content(ev: Evidence, path: str) -> tuple[str | None, Judgement | None]:
    """The file's text, or the judgement to give when there is none."""
    st, c = p.output(ev, "stat"), p.output(ev, "content")
    if st is None:
        return None, p.not_run(st, "stat")
    if p.says_no_such_file(st):
        return None, Judgement.failed(
            f"le fichier {path} n'existe pas", f"{path} does not exist", p.quote(st)
        )
    info = p.parse_stat(st.stdout) if st.ok else None
    if info is None or c is None or not c.ok:
        return None, p.not_run(c if info is not None else st, "lecture du fichier")
    if info.size > 0 and not c.stdout:
        return None, p.not_run(c, "lecture du fichier")
    if not c.stdout.strip():
        return None, Judgement.failed(
            f"le fichier {path} est vide", f"{path} is empty", st.stdout.strip()
        )
    return c.stdout, None


class RecordParams(PluginParams):
    path: str = Field(pattern=r"^/")


RecordParamsT = TypeVar("RecordParamsT", bound=RecordParams)


class RecordCheck(Check[RecordParamsT, CommandSession]):
    """A file the candidate writes: ``collect`` reads it, ``decide`` judges its text."""

    node_kinds = kinds_where(role="linux")

    def collect(self, session: CommandSession, params: RecordParamsT) -> Evidence:
        ev = Evidence()
        path = params.path
        p.run(ev, session, "stat", [*p.C_LOCALE, "stat", "-c", p.STAT_FORMAT, "--", path])
        p.run(ev, session, "content", ["head", "-c", str(MAX_READ), "--", path])
        return ev

    def judge(self, ev: Evidence, params: RecordParamsT) -> Judgement:
        text, verdict = _content(ev, params.path)
        if verdict is not None or text is None:
            return verdict or p.not_run(None, "lecture du fichier")
        return self.decide(text, params)

    def decide(self, text: str, params: RecordParamsT) -> Judgement:
        raise NotImplementedError


@register_check
class InterventionReport(RecordCheck["InterventionReport.Params"]):
    name = "record.report"
    summary = "An intervention report exists with every required field filled in"

    class Params(RecordParams):
        fields: list[str] = Field(min_length=1, description="field names, e.g. 'Diagnostic'")
        mentions: list[str] = Field(
            default=[],
            description="concepts the report must name: a key or term of the lexicon "
            "(grading/parsers/lexicon.py: its French and English terms count) or a plain word; "
            "case, accents and word boundaries as a reader sees them, negations excluded",
        )
        values: dict[str, str] = Field(
            default={},
            description="field -> the value it must hold (its leading term, or a term of the "
            "same concept): {Statut: Résolu, Priorité: P1}",
        )

    def decide(self, text: str, params: Params) -> Judgement:
        found = p.report_fields(text)
        if not found:
            return Judgement.error(
                "le compte rendu n'a ni champs « Champ : valeur » ni titres : à lire par le jury",
                "report layout not recognised",
                p.first_line(text),
            )
        missing, empty = [], []
        for name in params.fields:
            entry = found.get(p.fold(name))
            if entry is None:
                missing.append(name)
            elif not p.filled(entry[0]):
                empty.append((name, entry[1]))
        if missing:
            return Judgement.failed(
                f"champ(s) absent(s) du compte rendu : {', '.join(missing)}",
                f"missing fields: {missing}",
                ", ".join(sorted(found))[:200],
            )
        if empty:
            return Judgement.failed(
                f"champ(s) non rempli(s) : {', '.join(n for n, _ in empty)}",
                f"empty fields: {[n for n, _ in empty]}",
                empty[0][1],
            )
        for name, want in params.values.items():
            entry = found.get(p.fold(name))
            if entry is None:
                return Judgement.failed(
                    f"champ absent du compte rendu : {name}", f"missing field {name}", ""
                )
            if not lexicon.value_is(entry[0], want):
                return Judgement.failed(
                    f"le champ « {name} » vaut « {entry[0]} » et non « {want} »",
                    f"field {name} is {entry[0]!r}, not {want!r}",
                    entry[1],
                )
        absent = [w for w in params.mentions if lexicon.find_concept(text, w) is None]
        if absent:
            # Another plain wording of the same cause is possible: the jury reads the passage.
            why = f"le compte rendu ne nomme pas : {', '.join(absent)} (termes du lexique)"
            return Judgement.for_jury(
                f"{why} ; formulation à apprécier par le jury",
                f"report names none of the terms of {absent}: for the jury to appraise",
                _passage(found),
            )
        first = found[p.fold(params.fields[0])]
        return Judgement.passed("compte rendu complet", "report complete", first[1])


#: Fields where a report states the cause and what was done, in the order a jury reads them.
_CAUSE_FIELDS = ("diagnostic", "cause", "symptome", "description", "solution", "intervention")


def _passage(found: dict[str, tuple[str, str]]) -> str:
    """The lines of the report a jury reads to judge whether the cause is named."""
    lines = [found[f][1] for f in _CAUSE_FIELDS if f in found]
    return " / ".join(lines)[:500]


@register_check
class Inventory(RecordCheck["Inventory.Params"]):
    name = "record.inventory"
    summary = "An asset inventory lists each given machine with its location and user"

    class Params(RecordParams):
        machines: list[str] = Field(min_length=1)
        columns: list[str] = ["machine", "location", "user"]

    def decide(self, text: str, params: Params) -> Judgement:
        rows = p.parse_table(text)
        if not rows or len(rows) < 2:
            return Judgement.error(
                "aucun tableau (CSV ou Markdown) reconnu dans l'inventaire : à lire par le jury",
                "no table recognised",
                p.first_line(text),
            )
        header = rows[0]
        cols = p.find_columns(header, params.columns)
        key = params.columns[0]
        if key not in cols:
            return Judgement.error(
                f"colonne « {key} » introuvable dans l'en-tête : à lire par le jury",
                f"no {key} column",
                " | ".join(header),
            )
        missing_cols = [c for c in params.columns if c not in cols]
        if missing_cols:
            return Judgement.failed(
                f"colonne(s) absente(s) de l'inventaire : {', '.join(missing_cols)}",
                f"missing columns {missing_cols}",
                " | ".join(header),
            )
        by_name = {p.fold(r[cols[key]]).strip(): r for r in rows[1:] if len(r) > cols[key]}
        for machine in params.machines:
            row = by_name.get(p.fold(machine))
            if row is None:
                return Judgement.failed(
                    f"{machine} ne figure pas dans l'inventaire",
                    f"{machine} not listed",
                    " | ".join(header),
                )
            blanks = [
                c for c in params.columns[1:] if len(row) <= cols[c] or not p.filled(row[cols[c]])
            ]
            if blanks:
                return Judgement.failed(
                    f"{machine} : {', '.join(blanks)} non renseigné(s)",
                    f"{machine}: empty {blanks}",
                    " | ".join(row),
                )
        return Judgement.passed(
            f"l'inventaire liste {', '.join(params.machines)} avec {', '.join(params.columns[1:])}",
            "inventory complete",
            " | ".join(header),
        )
