"""Checks on what the candidate writes: intervention reports and asset inventories."""

from __future__ import annotations

from pydantic import Field

from tai_labs.grading.base import Check, register_check
from tai_labs.registry import PluginParams


@register_check
class InterventionReport(Check):
    name = "record.report"
    summary = "An intervention report exists with every required field filled in"
    node_kinds = frozenset({"linux-client", "linux-server"})

    class Params(PluginParams):
        path: str = Field(pattern=r"^/")
        fields: list[str] = Field(min_length=1, description="field names, e.g. 'Diagnostic'")
        mentions: list[str] = Field(default=[], description="words the report must contain")


@register_check
class Inventory(Check):
    name = "record.inventory"
    summary = "An asset inventory lists each given machine with its location and user"
    node_kinds = frozenset({"linux-client", "linux-server"})

    class Params(PluginParams):
        path: str = Field(pattern=r"^/")
        machines: list[str] = Field(min_length=1)
        columns: list[str] = ["machine", "location", "user"]
