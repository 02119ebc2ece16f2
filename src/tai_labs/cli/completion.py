"""Shell completion helpers (typer installs the scripts: `tai-labs --install-completion`)."""

from __future__ import annotations

from tai_labs.scenario.catalog import iter_scenario_files


def scenario_names(incomplete: str) -> list[str]:
    try:
        names = sorted(p.parent.name for p in iter_scenario_files())
    except OSError:
        return []
    return [n for n in names if n.startswith(incomplete)]


def competence_ids(incomplete: str) -> list[str]:
    return [f"C{i}" for i in range(1, 12) if f"C{i}".startswith(incomplete.upper())]


def block_ids(incomplete: str) -> list[str]:
    return [b for b in ("CCP1", "CCP2", "CCP3") if b.startswith(incomplete.upper())]
