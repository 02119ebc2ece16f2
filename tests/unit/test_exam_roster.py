"""The roster reader: what instructors' spreadsheets export, and every mistake with its line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tai_labs.exam.model import LOGIN
from tai_labs.exam.roster import (
    MAX_ROWS,
    RosterError,
    derive_login,
    header_key,
    parse_roster,
    read_roster,
)


def problems(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(RosterError) as info:
        parse_roster(data, "roster.csv")
    return info.value.problems


def test_excel_export_with_bom_semicolons_and_accented_header() -> None:
    data = "\ufeffNom;Prénom;Identifiant;E-mail;Groupe\r\nMartin;Chloé;;chloe@cfa.fr;A\r\n"
    roster = parse_roster(data.encode(), "roster.csv")
    (entry,) = roster.entries
    assert (entry.nom, entry.prenom, entry.identifiant, entry.email) == (
        "Martin",
        "Chloé",
        "chloe-martin",
        "chloe@cfa.fr",
    )
    assert entry.derived and entry.line == 2
    assert roster.ignored_columns == ("Groupe",)


def test_commas_without_bom_quoted_fields_and_blank_lines() -> None:
    data = 'prenom,nom,identifiant\nJean,"Le Goff",jlg\n\nAna,Silva,\n'
    roster = parse_roster(data.encode())
    assert [(e.nom, e.identifiant, e.line) for e in roster.entries] == [
        ("Le Goff", "jlg", 2),
        ("Silva", "ana-silva", 4),
    ]


def test_header_keys_ignore_case_accents_and_spacing() -> None:
    assert header_key(" PRÉNOM ") == "prenom"
    assert header_key("Courriel") == "email"
    assert header_key("e_mail") == "email"
    assert header_key("Identifiant") == "identifiant"


def test_derived_logins_fold_accents_and_number_homonyms_in_order() -> None:
    assert derive_login("Élodie", "N'Diaye") == "elodie-ndiaye"
    assert derive_login("Jean Pierre", "Le Goff") == "jean-pierre-le-goff"
    assert derive_login("Jean-Pierre", "St. Clair") == "jean-pierre-st-clair"
    assert derive_login("Ana", "O'Neil-Brown") == "ana-oneil-brown"
    assert derive_login("Marie-Christine-Élisabeth", "de La Tour d'Auvergne") == (
        "marie-christine-elisabeth-de-la"  # cut to 32, then the dangling dash dropped
    )
    data = (
        "nom;prenom;identifiant\n"
        "Martin;Jean;\nMartin;Jean;\nDurand;Paul;jean-martin3\nMartin;Jean;\n"
    )
    logins = [e.identifiant for e in parse_roster(data.encode()).entries]
    # a written identifier is never taken by a derived one
    assert logins == ["jean-martin", "jean-martin2", "jean-martin3", "jean-martin4"]


def test_duplicate_written_identifiers_are_refused_with_both_lines() -> None:
    found = problems("nom;prenom;identifiant\nMartin;Jean;jmartin\nDurand;Paul;JMARTIN\n")
    assert found == [
        "roster.csv:3: identifiant 'jmartin' already on line 2 (give each candidate their own)"
    ]


def test_every_bad_row_is_reported_at_once_with_its_line() -> None:
    text = (
        "nom;prenom;identifiant;email\n"
        "Martin;Jean;;jean@cfa.fr\n"  # fine
        ";Paul;;\n"  # 3: nom empty
        "Durand;P4ul;;\n"  # 4: digit in a name
        "Roux;Léa;lea.roux;\n"  # 5: a dot in the identifiant
        "Petit;Zoé;;zoe-at-cfa\n"  # 6: not an email
        "Moreau;Inès;;;extra\n"  # 7: one field too many
    )
    found = problems(text)
    assert [p.split(":")[1] for p in found] == ["3", "4", "5", "6", "7"]
    assert "nom is empty" in found[0]
    assert "prenom 'P4ul'" in found[1]
    assert "identifiant 'lea.roux' is not valid" in found[2]
    assert "email 'zoe-at-cfa' is not an address" in found[3]
    assert "5 fields where the header has 4" in found[4]
    assert all(p.startswith("roster.csv:") and p.endswith(")") for p in found)


def test_header_without_required_columns() -> None:
    (found,) = problems("name;first name\nMartin;Jean\n")
    assert found.startswith("roster.csv:1: the header has no nom and no prenom column")


def test_header_with_a_column_twice() -> None:
    (found,) = problems("nom;prenom;Prénom\nMartin;Jean;Jean\n")
    assert found == "roster.csv:1: column 'prenom' twice (keep one)"


def test_latin1_file_is_refused_with_its_line() -> None:
    (found,) = problems("nom;prenom\nMartin;Jean\nDurand;Zoé\n".encode("latin-1"))
    assert found.startswith("roster.csv:3: not UTF-8 text")
    assert "CSV UTF-8" in found


def test_empty_file_and_header_only() -> None:
    assert problems("")[0].startswith("roster.csv: empty")
    assert problems("\ufeffnom;prenom\n\n")[0] == (
        "roster.csv:1: a header but no candidate (add one per line)"
    )


def test_unclosed_quote_is_reported() -> None:
    found = problems('nom;prenom\nMartin;"Jean\n')
    assert found[0].startswith("roster.csv:") and "quote" in found[0]


def test_too_many_rows_and_too_big_a_file(tmp_path: Path) -> None:
    rows = "".join(
        f"Nom;Prenom{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}\n" for i in range(MAX_ROWS + 5)
    )
    found = problems("nom;prenom\n" + rows)
    assert f"more than {MAX_ROWS} candidates" in found[0]
    big = tmp_path / "big.csv"
    big.write_bytes(b"nom;prenom\n" + b"x" * 300_000)
    with pytest.raises(RosterError) as info:
        read_roster(big)
    assert "bytes, more than" in info.value.problems[0]


def test_missing_file_is_one_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(RosterError) as info:
        read_roster(tmp_path / "nope.csv", display="nope.csv")
    assert info.value.problems[0].startswith("nope.csv: cannot be read")


_CELLS = st.sampled_from(
    ["nom", "prenom", "Prénom", "identifiant", "email", "Martin", "Chloé", "jmartin", "a@b.fr", ""]
)
_ROWS = st.lists(st.lists(st.one_of(_CELLS, st.text(max_size=8)), max_size=6), max_size=8)


@st.composite
def spreadsheets(draw: st.DrawFn) -> bytes:
    sep = draw(st.sampled_from([";", ",", '"', "\t"]))
    text = "\n".join(sep.join(cells) for cells in draw(_ROWS))
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=400), spreadsheets()))
def test_any_bytes_give_a_roster_or_a_roster_error(data: bytes) -> None:
    try:
        roster = parse_roster(data)
    except RosterError as exc:
        assert exc.problems and all(p.startswith("roster.csv") for p in exc.problems)
    else:
        logins = [e.identifiant for e in roster.entries]
        assert len(set(logins)) == len(logins)
        assert all(LOGIN.fullmatch(login) for login in logins)


def test_names_that_give_no_login_ask_for_one() -> None:
    (found,) = problems("nom;prenom\n王;小明\n")
    assert found == (
        "roster.csv:2: no identifiant can be made from '小明' '王' (write one in the "
        "identifiant column)"
    )
    roster = parse_roster("nom;prenom;identifiant\n王;小明;xiaoming-wang\n".encode())
    assert roster.entries[0].identifiant == "xiaoming-wang"
