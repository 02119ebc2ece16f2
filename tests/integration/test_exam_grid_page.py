"""The jury grid page as the jury sees it: rendered by headless Chromium, on screen and on A4
landscape, each candidate on it, a missing lab said so.

Skips when Chromium is absent (``apt-get install chromium``; ``make install`` brings it).
The screenshot and the PDF stay in the test's folder (tmp_path) for a person to look at.
"""

from __future__ import annotations

import html
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_exam_slips_page import CHROMIUM, chromium, ink_by_half

from tai_labs.exam.grid import Grid, MissingLab, build_grid
from tai_labs.exam.model import Candidate, Draw, Session, SessionScenario
from tai_labs.grading.result import CompetenceResult, GradeReport
from tai_labs.reports.grid import to_html

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs headless Chromium (apt-get install chromium)"
)
WHEN = datetime(2027, 1, 12, 11, 0, tzinfo=UTC)
PEOPLE = [
    ("camille-nguyen", "Nguyễn-Lefèvre", "Camille"),
    ("jean-pierre-le-goff", "Le Goff", "Jean-Pierre"),
    ("elodie-ndiaye", "N'Diaye", "Élodie"),
]
SCENARIOS = ("compte-verrouille", "depart-et-arrivee")


def graded(scenario: str, login: str, points: float) -> GradeReport:
    comps = [
        CompetenceResult(
            id="C6",
            title="C6",
            block="CCP2",
            points=points,
            max_points=8,
            acquired=points >= 4,
            checks=[],
        )
    ]
    return GradeReport(
        lab=f"lab-{login[:4]}",
        scenario=scenario,
        scenario_title=scenario,
        block="CCP2",
        candidate=login,
        seed=1,
        started=WHEN,
        finished=WHEN,
        threshold=0.5,
        checks=[],
        competences=comps,
        points=points,
        max_points=8,
    )


def sample_grid() -> Grid:
    """Three candidates on two scenarios: all done, one lab missing, a decimal mark."""
    session = Session(
        name="ccp2-2027-01-12",
        block="CCP2",
        scenarios=tuple(
            SessionScenario(id=s, title=s, block="CCP2", file="/x.yaml", variants=2)
            for s in SCENARIOS
        ),
        duration=120,
        created=WHEN,
        draw_key="0" * 32,
        candidates=tuple(
            Candidate(
                login=login,
                nom=nom,
                prenom=prenom,
                roster_line=i + 2,
                login_derived=False,
                draws=tuple(Draw(scenario=s, seed=i, variant={}) for s in SCENARIOS),
            )
            for i, (login, nom, prenom) in enumerate(PEOPLE)
        ),
    )
    outcomes = {
        "camille-nguyen": {s: graded(s, "camille-nguyen", 8) for s in SCENARIOS},
        "jean-pierre-le-goff": {
            "compte-verrouille": graded("compte-verrouille", "jean-pierre-le-goff", 0),
            "depart-et-arrivee": MissingLab(scenario="depart-et-arrivee", reason="lab absent"),
        },
        "elodie-ndiaye": {s: graded(s, "elodie-ndiaye", 5.5) for s in SCENARIOS},
    }
    return build_grid(session, outcomes, generated=WHEN)


def test_grid_page_renders_on_a4_landscape_with_every_candidate(tmp_path: Path) -> None:
    page = tmp_path / "grille.html"
    page.write_text(to_html(sample_grid()), encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.read_text(encoding="utf-8"))

    shot = tmp_path / "grille.png"
    chromium(f"--screenshot={shot}", "--window-size=1400,900", page.as_uri())
    assert shot.stat().st_size > 20_000  # a blank page is about 5 kB
    left, right = ink_by_half(shot.read_bytes())
    assert left > 0.01 and right > 0.01, (left, right)  # the table spans the page

    # What Chromium read, as text: every candidate, the missing lab, the signature blocks.
    assert CHROMIUM is not None
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
        text=True,
    ).stdout
    text = html.unescape(re.sub(r"<[^>]+>", " ", dom))
    for login, nom, prenom in PEOPLE:
        assert f"{nom.upper()} {prenom}" in text and login in text, login
    assert "lab manquant : lab absent" in text
    assert "16/16" in text and "5,5/8" in text  # Camille's total, Élodie's decimal comma
    assert text.count("Signature :") == 3

    pdf = tmp_path / "grille.pdf"
    chromium("--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert boxes, "no page in the PDF"
    width, height = (float(v) for v in boxes[0])
    assert width > height and abs(width - 842) < 3 and abs(height - 595) < 3  # A4 landscape
    pages = int(re.findall(rb"/Type /Pages\s*/Count (\d+)", data)[0])
    assert pages == 1, pages  # three candidates and the signatures fit one sheet
