"""The grid's CSV as LibreOffice Calc reads it: UTF-8 with BOM, `;`, French decimal commas.

Headless Calc cannot show its import dialog, where it detects these; the test gives it what
the dialog proposes for this file (`;`, UTF-8, French), converts the sheet back to plain CSV
and finds every cell in its place. Skips when LibreOffice is absent
(``apt-get install libreoffice-calc-nogui``).
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from test_exam_grid_page import PEOPLE, sample_grid

from tai_labs.reports.grid import to_csv

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pytestmark = pytest.mark.skipif(
    SOFFICE is None, reason="needs LibreOffice (apt-get install libreoffice-calc-nogui)"
)
# ; (59), " (34), UTF-8 (76), from line 1, no column types, French (1036).
IMPORT = "CSV:59,34,76,1,,1036"
EXPORT = "csv:Text - txt - csv (StarCalc):44,34,76,1,,1036"


def test_calc_reads_every_cell_of_the_grid(tmp_path: Path) -> None:
    source = tmp_path / "grille.csv"
    source.write_bytes(to_csv(sample_grid()))
    assert SOFFICE is not None
    subprocess.run(
        [
            SOFFICE,
            "--headless",
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
            f"--infilter={IMPORT}",
            "--convert-to",
            EXPORT,
            "--outdir",
            str(tmp_path / "out"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    back = (tmp_path / "out" / "grille.csv").read_text(encoding="utf-8")
    assert not back.startswith("\ufeff")  # the BOM read as the encoding mark, not as text
    ours = list(csv.reader(io.StringIO(source.read_bytes().decode("utf-8-sig")), delimiter=";"))
    calc = list(csv.reader(io.StringIO(back)))
    assert len(calc) == len(ours) == 1 + len(PEOPLE)
    for mine, theirs in zip(ours, calc, strict=True):
        # Calc drops trailing empty cells; a French decimal comma becomes a number (5.5).
        assert theirs == [c.replace(",", ".") for c in mine][: len(theirs)]
        assert all(not c for c in mine[len(theirs) :])
    names = {row[0]: row for row in calc[1:]}
    assert names["Nguyễn-Lefèvre"][1] == "Camille"
    assert "5.5" in names["N'Diaye"]
    assert "manquant (lab absent)" in names["Le Goff"]
