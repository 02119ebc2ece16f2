"""Typed model of the referential and its loader.

The data lives in ``tai.yaml`` beside this module; ids there are the contract that
scenarios and reports rely on.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

_CRITERION_ID = re.compile(r"^(C(?:[1-9]|1[01])|G)\.[1-9][0-9]*$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Criterion(_Frozen):
    id: str = Field(pattern=_CRITERION_ID.pattern)
    text: str

    @property
    def competence_id(self) -> str:
        return self.id.split(".", 1)[0]


class Competence(_Frozen):
    id: str = Field(pattern=r"^C([1-9]|1[01])$")
    title: str
    criteria: tuple[Criterion, ...]

    @model_validator(mode="after")
    def _criteria_belong_here(self) -> Competence:
        for criterion in self.criteria:
            if criterion.competence_id != self.id:
                raise ValueError(f"criterion {criterion.id} is listed under {self.id}")
        return self


class Block(_Frozen):
    id: str = Field(pattern=r"^CCP[1-3]$")
    title: str
    competences: tuple[Competence, ...]


class Referential(_Frozen):
    title: str
    code: str
    nsf: str
    rome: str
    general_criteria: tuple[Criterion, ...]
    blocks: tuple[Block, ...]

    @property
    def competences(self) -> tuple[Competence, ...]:
        return tuple(c for b in self.blocks for c in b.competences)

    def block(self, block_id: str) -> Block:
        for block in self.blocks:
            if block.id == block_id:
                return block
        raise KeyError(block_id)

    def competence(self, competence_id: str) -> Competence:
        for competence in self.competences:
            if competence.id == competence_id:
                return competence
        raise KeyError(competence_id)

    def block_of(self, competence_id: str) -> Block:
        for block in self.blocks:
            if any(c.id == competence_id for c in block.competences):
                return block
        raise KeyError(competence_id)

    def criterion(self, criterion_id: str) -> Criterion:
        for criterion in self.general_criteria:
            if criterion.id == criterion_id:
                return criterion
        for competence in self.competences:
            for criterion in competence.criteria:
                if criterion.id == criterion_id:
                    return criterion
        raise KeyError(criterion_id)

    @model_validator(mode="after")
    def _ids_unique(self) -> Referential:
        seen: set[str] = set()
        ids = [b.id for b in self.blocks] + [c.id for c in self.competences]
        ids += [cr.id for c in self.competences for cr in c.criteria]
        ids += [cr.id for cr in self.general_criteria]
        for item in ids:
            if item in seen:
                raise ValueError(f"duplicate id {item} in the referential")
            seen.add(item)
        return self


@cache
def load_referential() -> Referential:
    """Load the packaged referential (parsed once per process)."""
    text = resources.files("tai_labs.referential").joinpath("tai.yaml").read_text("utf-8")
    return Referential.model_validate(yaml.safe_load(text))
