"""The class roster: a CSV an instructor exports from a spreadsheet, read into candidates.

What is accepted, as a training centre's files come:

- UTF-8, with or without the BOM Excel and LibreOffice put first; another encoding is
  refused with the line where it breaks (save as « CSV UTF-8 »).
- ``;`` (French Excel) or ``,`` as separator, detected from the header line.
- A header naming at least ``nom`` and ``prenom``; ``identifiant`` and ``email`` are
  optional. Header names are read without case, accents, spaces, ``-`` or ``_``:
  ``Prénom``, ``PRENOM`` and ``prénom `` are all ``prenom``; ``courriel`` and ``e-mail`` are
  ``email``. Other columns (groupe, date de naissance…) are ignored and listed as such.
- Blank lines are skipped.

An identifier (``identifiant``) is the candidate's login, which is also their account on the
lab host's SSH gateway: 3 to 32 lowercase ASCII letters, digits and ``-``, starting with a
letter and ending with a letter or digit. When the column is absent or a cell is empty, it is
derived from the names (``Chloé``, ``N'Diaye`` -> ``chloe-ndiaye``); two candidates with the
same names get ``jean-martin`` then ``jean-martin2``, in roster order (an instructor does not
want to invent logins for homonyms). An identifier written in the roster twice is refused:
it is the instructor's own data, and a clash there is a mistake.

Every problem is reported at once, each as ``roster.csv:LINE: what (fix)``.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from tai_labs.errors import TaiLabsError
from tai_labs.exam.model import LOGIN

#: A class is 8 to 15 candidates; 200 leaves room for a whole promotion, not for a mistake.
MAX_ROWS = 200
MAX_BYTES = 256 * 1024
MAX_NAME = 64
MAX_EMAIL = 254
LOGIN_MAX = 32
# Letters of any language, spaces, apostrophes, dots and dashes: "Élodie", "N'Diaye", "Le Goff".
_NAME = re.compile(r"[^\W\d_](?:[^\W\d_]|[ .'’-])*")
_EMAIL = re.compile(r"[^@\s;,<>\"]+@[^@\s;,<>\"]+\.[^@\s;,<>\"]+")
_HEADER_ALIASES = {
    "nom": "nom",
    "prenom": "prenom",
    "identifiant": "identifiant",
    "email": "email",
    "mail": "email",
    "courriel": "email",
}
REQUIRED = ("nom", "prenom")


@dataclass(frozen=True)
class RosterEntry:
    """One candidate as the roster gives them."""

    line: int
    nom: str
    prenom: str
    identifiant: str
    email: str | None
    derived: bool  # identifiant made from the names, not written in the roster


@dataclass(frozen=True)
class Roster:
    entries: tuple[RosterEntry, ...]
    ignored_columns: tuple[str, ...] = field(default=())


class RosterError(TaiLabsError):
    """A roster that cannot be used; ``problems`` holds every ``file:LINE: what (fix)``."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        plural = "s" if len(problems) > 1 else ""
        super().__init__(
            f"the roster has {len(problems)} problem{plural}:\n" + "\n".join(problems),
            hint="fix these lines, then run the same command again (nothing was created)",
        )


def fold(text: str) -> str:
    """Lowercase ASCII of ``text``: accents dropped, other letters removed."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii()).lower()


def header_key(cell: str) -> str:
    """``Prénom `` -> ``prenom``, ``E-mail`` -> ``email``: the column a header cell names."""
    key = re.sub(r"[\s_-]+", "", fold(cell))
    return _HEADER_ALIASES.get(key, key)


def derive_login(prenom: str, nom: str) -> str:
    """``Chloé``, ``N'Diaye`` -> ``chloe-ndiaye``; ``Jean Pierre``, ``Le Goff`` ->
    ``jean-pierre-le-goff`` (cut to 32)."""
    words = re.split(r"[\s.-]+", fold(f"{prenom} {nom}"))
    cleaned = ["".join(c for c in w if c.isascii() and c.isalnum()) for w in words]
    return "-".join(w for w in cleaned if w)[:LOGIN_MAX].strip("-")


def read_roster(path: Path, *, display: str | None = None) -> Roster:
    """Read and check a roster file; raise ``RosterError`` listing every problem."""
    shown = display or str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RosterError([f"{shown}: cannot be read: {exc.strerror} (check the path)"]) from None
    if size > MAX_BYTES:
        raise RosterError(
            [f"{shown}: {size} bytes, more than {MAX_BYTES} (a roster is one line per candidate)"]
        )
    return parse_roster(path.read_bytes(), shown)


def parse_roster(data: bytes, shown: str = "roster.csv") -> Roster:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RosterError(
            [
                f"{shown}:{line}: not UTF-8 text (save the file as « CSV UTF-8 » in LibreOffice "
                "Calc or Excel)"
            ]
        ) from None
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise RosterError([f"{shown}: empty (write a header line: nom;prenom;identifiant;email)"])
    header_line = lines[first]
    delimiter = ";" if header_line.count(";") >= header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    problems: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    try:
        start = 1
        for row in reader:
            if len(rows) > MAX_ROWS + 1:
                problems.append(
                    f"{shown}:{start}: more than {MAX_ROWS} candidates (split the class into "
                    "several sessions)"
                )
                break
            if any(cell.strip() for cell in row):
                rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        problems.append(f"{shown}:{reader.line_num}: {exc} (check the quotes on this line)")
        raise RosterError(problems) from None
    if problems:
        raise RosterError(problems)
    if not rows:  # only separators: nothing named
        raise RosterError([f"{shown}: no header (write one: nom;prenom;identifiant;email)"])
    header_at, header = rows[0]
    columns, ignored, problems = _columns(header, header_at, shown)
    if problems:
        raise RosterError(problems)
    if len(rows) == 1:
        raise RosterError([f"{shown}:{header_at}: a header but no candidate (add one per line)"])
    return _entries(rows[1:], columns, ignored, len(header), shown)


def _columns(
    header: list[str], line: int, shown: str
) -> tuple[dict[str, int], tuple[str, ...], list[str]]:
    columns: dict[str, int] = {}
    ignored: list[str] = []
    problems: list[str] = []
    for index, cell in enumerate(header):
        key = header_key(cell)
        if key in _HEADER_ALIASES.values():
            if key in columns:
                problems.append(f"{shown}:{line}: column {key!r} twice (keep one)")
            columns[key] = index
        elif cell.strip():
            ignored.append(cell.strip())
    missing = [k for k in REQUIRED if k not in columns]
    if missing:
        problems.append(
            f"{shown}:{line}: the header has no {' and no '.join(missing)} column (the first "
            f"line names the columns, for example: nom;prenom;identifiant;email; found: "
            f"{';'.join(c.strip() for c in header)})"
        )
    return columns, tuple(ignored), problems


def _cell(row: list[str], columns: dict[str, int], key: str) -> str:
    index = columns.get(key)
    return row[index].strip() if index is not None and index < len(row) else ""


def _entries(
    rows: list[tuple[int, list[str]]],
    columns: dict[str, int],
    ignored: tuple[str, ...],
    width: int,
    shown: str,
) -> Roster:
    problems: list[str] = []
    checked: list[tuple[int, str, str, str, str | None]] = []
    written: dict[str, int] = {}
    for line, row in rows:
        where = f"{shown}:{line}"
        row_problems: list[str] = []
        if len(row) != width:
            row_problems.append(
                f"{where}: {len(row)} fields where the header has {width} (a missing or extra "
                "separator; quote a value that holds one)"
            )
        nom, prenom = _cell(row, columns, "nom"), _cell(row, columns, "prenom")
        ident = _cell(row, columns, "identifiant").lower()
        email = _cell(row, columns, "email") or None
        for key, value in (("nom", nom), ("prenom", prenom)):
            if not value:
                row_problems.append(f"{where}: {key} is empty (fill it in or remove the line)")
            elif len(value) > MAX_NAME:
                row_problems.append(f"{where}: {key} longer than {MAX_NAME} characters (shorten)")
            elif not _NAME.fullmatch(value):
                row_problems.append(
                    f"{where}: {key} {value!r} has characters a name does not (letters, "
                    "spaces, apostrophes, dots and dashes only)"
                )
        if ident and not LOGIN.fullmatch(ident):
            row_problems.append(
                f"{where}: identifiant {ident!r} is not valid (3 to {LOGIN_MAX} lowercase "
                "letters, digits and -, from a letter to a letter or digit; or leave it empty)"
            )
        if email is not None and (len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email)):
            row_problems.append(f"{where}: email {email!r} is not an address (name@domain.fr)")
        if ident and LOGIN.fullmatch(ident):
            if ident in written:
                row_problems.append(
                    f"{where}: identifiant {ident!r} already on line {written[ident]} (give "
                    "each candidate their own)"
                )
            else:
                written[ident] = line
        if row_problems:
            problems.extend(row_problems)
            continue
        checked.append((line, nom, prenom, ident, email))
    entries = _with_logins(checked, written, shown, problems)
    if problems:
        raise RosterError(problems)
    return Roster(tuple(entries), ignored)


def _with_logins(
    checked: list[tuple[int, str, str, str, str | None]],
    written: dict[str, int],
    shown: str,
    problems: list[str],
) -> list[RosterEntry]:
    """Derive the missing identifiers: homonyms get 2, 3… in roster order, never one written."""
    taken = set(written)
    entries: list[RosterEntry] = []
    for line, nom, prenom, ident, email in checked:
        derived = not ident
        if derived:
            base = derive_login(prenom, nom)
            if not LOGIN.fullmatch(base):
                problems.append(
                    f"{shown}:{line}: no identifiant can be made from {prenom!r} {nom!r} "
                    "(write one in the identifiant column)"
                )
                continue
            ident, n = base, 1
            while ident in taken:
                n += 1
                suffix = str(n)
                ident = base[: LOGIN_MAX - len(suffix)] + suffix
        taken.add(ident)
        entries.append(RosterEntry(line, nom, prenom, ident, email, derived))
    return entries
