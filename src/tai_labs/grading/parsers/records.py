"""Parsers of what a candidate writes: a report of ``Champ : valeur`` lines, an inventory table."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tai_labs.grading.parsers.evidence import fold

PLACEHOLDERS = {"", "-", "--", "...", "…", "todo", "a completer", "a remplir", "n/a", "xxx", "?"}


def report_fields(text: str) -> dict[str, tuple[str, str]]:
    """Field name (folded) → (value, line) of a report written as ``Champ : valeur`` lines or
    as Markdown headings (``## Champ``) followed by text."""
    fields: dict[str, tuple[str, str]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        heading = re.match(r"^#{1,6}\s*(.+?)\s*:?\s*$", line)
        inline = re.match(r"^[-*>\s]*\**([^:*]{1,60}?)\**\s*:\s*\**\s*(.*)$", line)
        if heading:
            current = fold(heading.group(1).strip("* "))
            fields.setdefault(current, ("", line))
            continue
        if inline and not re.match(r"^https?$", inline.group(1).strip(), re.I):
            current = fold(inline.group(1).strip())
            value = inline.group(2).strip().strip("*").strip()
            old = fields.get(current, ("", line))
            fields[current] = (value or old[0], line)
            continue
        if current and line and not fields[current][0]:
            fields[current] = (line, fields[current][1] + " / " + line)
    return fields


def filled(value: str) -> bool:
    return fold(value).strip(" .") not in PLACEHOLDERS and bool(re.search(r"\w", value))


#: Header names candidates use for the inventory's default columns (folded).
COLUMN_SYNONYMS = {
    "machine": {
        "machine",
        "poste",
        "nom",
        "hostname",
        "nom de machine",
        "nom du poste",
        "ordinateur",
        "equipement",
        "materiel",
        "host",
        "appareil",
        "nom d'hote",
    },
    "location": {
        "location",
        "emplacement",
        "localisation",
        "lieu",
        "bureau",
        "salle",
        "site",
        "piece",
        "service",
    },
    "user": {
        "user",
        "utilisateur",
        "utilisatrice",
        "util",
        "affecte a",
        "attribue a",
        "proprietaire",
        "responsable",
        "usager",
    },
}


def parse_table(text: str) -> list[list[str]] | None:
    """Rows of a Markdown table, or of CSV (``;``, ``,`` or tab separated); None if neither."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    md = [line for line in lines if line.startswith("|") or line.count("|") >= 2]
    if len(md) >= 2:
        rows = []
        for line in md:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
                continue  # separator row
            rows.append(cells)
        return rows
    import csv
    import io

    for delimiter in (";", "\t", ","):
        if lines and lines[0].count(delimiter) >= 1:
            rows = [
                [c.strip() for c in row]
                for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
            ]
            if len({len(r) for r in rows}) <= 2:  # tolerate a ragged last column
                return rows
    return None


def find_columns(header: list[str], wanted: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    folded = [fold(h).strip(" *") for h in header]
    for name in wanted:
        names = COLUMN_SYNONYMS.get(name, set()) | {fold(name)}
        for i, h in enumerate(folded):
            if h in names or any(h.startswith(n + " ") or h.startswith(n + "(") for n in names):
                found[name] = i
                break
    return found
