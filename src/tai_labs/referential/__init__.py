"""The TAI referential (blocks, competences, criteria) as typed, read-only data."""

from tai_labs.referential.model import Block, Competence, Criterion, Referential, load_referential

__all__ = ["Block", "Competence", "Criterion", "Referential", "load_referential"]
