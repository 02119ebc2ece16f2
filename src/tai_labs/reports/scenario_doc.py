"""A Markdown page per scenario, generated from its data (docs/scenarios/<id>.md).

What it assesses, on which topology, which faults a candidate may draw, and what is left to
the jury: written for instructors choosing a lab, so in French like the scenarios.
"""

from __future__ import annotations

from pathlib import Path

from tai_labs.faults.base import FAULTS
from tai_labs.referential import load_referential
from tai_labs.scenario.loader import load_scenario, variable_specs


def _points_fr(points: float, invariant: bool) -> str:
    return f"à préserver (−{points:g} si rompu)" if invariant else f"{points:g}"


def scenario_page(file: Path) -> str:
    loaded = load_scenario(file)
    s = loaded.scenario
    meta = s.scenario
    ref = load_referential()
    out = [f"# {meta.title}", ""]
    out.append(
        f"`{s.id}` · {meta.block} — {ref.block(meta.block).title} · "
        f"{meta.duration} min · difficulté : {meta.difficulty.label_fr}"
    )
    out += ["", meta.summary.strip(), "", "## Ce qui est évalué", ""]
    out += ["| compétence | critère | contrôle | points |", "| --- | --- | --- | --- |"]
    for check in s.checks:
        criterion = ref.criterion(check.criterion)
        out.append(
            f"| {check.competence_id} | {check.criterion} — {criterion.text} | {check.title} "
            f"| {_points_fr(check.points, check.invariant)} |"
        )
    out += ["", f"Total : {s.total_points:g} points (variante par défaut).", ""]
    if any(c.invariant for c in s.checks):
        out += [
            "Un invariant (« à préserver ») ne rapporte rien s'il tient et coûte ses points "
            "s'il est rompu (dommage collatéral).",
            "",
        ]
    out += ["## Topologie", "", "| machine | rôle | interfaces |", "| --- | --- | --- |"]
    for node in s.topology.nodes:
        ifaces = ", ".join(f"{i.network} {i.address or ''}".strip() for i in node.interfaces)
        out.append(f"| {node.name} | {node.kind.value} | {ifaces or '-'} |")
    out += ["", "Réseaux : " + ", ".join(f"{n.name} ({n.subnet})" for n in s.topology.networks)]
    choices = {n: v.choice for n, v in variable_specs(file).items() if v.choice is not None}
    text = file.read_text(encoding="utf-8")
    out += ["", "## Pannes", ""]
    drawn = {n: c for n, c in choices.items() if f"{n} ==" in text or f"{n}==" in text}
    if drawn:
        for name, options in drawn.items():
            out.append(
                f"Tirée au sort par candidat (`{name}`) parmi : "
                + ", ".join(f"`{o}`" for o in options)
                + "."
            )
        out.append("")
    if s.faults or "faults:" in text:
        seen = set()
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("fault:"):
                name = line.split(":", 1)[1].strip()
                if name not in seen:
                    seen.add(name)
                    out.append(f"- `{name}` : « {FAULTS.get(name).symptom} »")
    else:
        out.append("Aucune panne injectée : le travail demandé part d'un état neuf.")
    out += [
        "",
        "## Laissé au jury",
        "",
        (meta.jury or "Rien : tout est vérifié sur le lab.").strip(),
    ]
    out += [
        "",
        f"Indices : {len(s.hints)} · solutions de référence : 1 + "
        f"{len(s.solution.alternatives)} variante(s) · mauvaises solutions vérifiées : "
        f"{len(s.solution.wrong)}",
        "",
    ]
    return "\n".join(out)
