from __future__ import annotations

import re
from pathlib import Path

import pytest

from tai_labs.referential import load_referential

SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "fiche-tai.txt"


def test_three_blocks_eleven_competences_in_order() -> None:
    ref = load_referential()
    assert [b.id for b in ref.blocks] == ["CCP1", "CCP2", "CCP3"]
    assert [c.id for c in ref.competences] == [f"C{i}" for i in range(1, 12)]
    assert [len(b.competences) for b in ref.blocks] == [4, 3, 4]


def test_every_competence_has_criteria_of_its_own() -> None:
    ref = load_referential()
    for competence in ref.competences:
        assert competence.criteria, competence.id
        for criterion in competence.criteria:
            assert criterion.id.startswith(competence.id + ".")
            assert ref.criterion(criterion.id) is criterion


def test_lookups_raise_on_unknown_ids() -> None:
    ref = load_referential()
    with pytest.raises(KeyError):
        ref.criterion("C6.99")
    with pytest.raises(KeyError):
        ref.competence("C12")
    assert ref.block_of("C6").id == "CCP2"
    assert ref.criterion("G.3").text.startswith("Le technicien rend compte")


@pytest.mark.skipif(not SEED.is_file(), reason=f"the official summary {SEED} is not present")
def test_titles_are_the_official_ones() -> None:
    text = re.sub(r"\s+", " ", SEED.read_text(encoding="utf-8"))
    ref = load_referential()
    for block in ref.blocks:
        assert block.title in text, block.id
        for competence in block.competences:
            assert competence.title + "." in text, competence.id
