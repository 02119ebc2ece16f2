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
        heading = _heading(line)
        inline = _inline_field(line) if heading is None else None
        if heading is not None:
            current = fold(heading.strip("* "))
            fields.setdefault(current, ("", line))
            continue
        if inline and not re.match(r"^https?$", inline[0].strip(), re.I):
            current = fold(inline[0].strip())
            value = inline[1].strip().strip("*").strip()
            old = fields.get(current, ("", line))
            fields[current] = (value or old[0], line)
            continue
        if current and line and not fields[current][0]:
            fields[current] = (line, fields[current][1] + " / " + line)
    return fields


# The two line shapes below were regular expressions, ``^#{1,6}\s*(.+?)\s*:?\s*$`` and
# ``^[-*>\s]*\**([^:*]{1,60}?)\**\s*:\s*\**\s*(.*)$``, whose overlapping quantifiers took
# cubic time on a crafted line (a heading of 2,000 spaces: 13 s). These functions return
# exactly their groups in one pass or a bounded number of them (tests/unit/test_parsers_linear.py
# compares them with the expressions on random lines). ``line`` is stripped and has no line
# break (``str.splitlines``), and ``str.isspace``/``strip`` are the expressions' ``\s``.


def _heading(line: str) -> str | None:
    """The title of a Markdown heading line (``## Champ :``), or None."""
    hashes = len(line) - len(line.lstrip("#"))
    if hashes == 0:
        return None
    taken = min(hashes, 6)
    rest = line[taken:].lstrip()
    if not rest:
        # Only hashes (and spaces): the expression gives one hash back to the title, if it can.
        return line[taken - 1] if taken > 1 else None
    title = rest.rstrip()
    if title.endswith(":"):
        title = title[:-1].rstrip()
    return title or rest[:1]


def _inline_field(line: str) -> tuple[str, str] | None:
    """(name, value) of a ``- **Champ** : valeur`` line, or None."""
    colon = line.find(":")
    if colon < 0:
        return None
    # The leading run of list and quote marks the expression's ``[-*>\s]*`` takes (no colon).
    lead = 0
    while lead < len(line) and (line[lead] in "-*>" or line[lead].isspace()):
        lead += 1
    head = line[:colon]
    # The name ends where the rest up to the colon is only stars then spaces: from `stars`.
    spaces = len(head.rstrip())
    stars = len(head[:spaces].rstrip("*"))
    # The expression tries name starts from the end of the lead backwards; a name is at
    # most 60 characters, so only starts near `stars` or after it can succeed.
    for start in range(lead, max(-1, stars - 61), -1):
        if start >= colon or line[start] == "*":
            continue
        end = max(start + 1, stars)
        if end <= colon and end - start <= 60 and "*" not in line[start:end]:
            value = line[colon + 1 :].lstrip().lstrip("*").lstrip()
            return line[start:end], value
    return None


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
