"""JSON Schema of scenario.yaml as authors write it (before variables are rendered)."""

from __future__ import annotations

from typing import Any

from tai_labs.scenario.model import Scenario
from tai_labs.scenario.variables import Variable


def scenario_json_schema() -> dict[str, Any]:
    schema = Scenario.model_json_schema(by_alias=True)
    variable = Variable.model_json_schema()
    defs = schema.setdefault("$defs", {})
    defs.update(variable.pop("$defs", {}))
    defs["Variable"] = variable
    schema["properties"]["extends"] = {
        "type": "string",
        "description": "a shared topology name (scenarios/_topologies/NAME.yaml) or a .yaml path",
    }
    schema["properties"]["variables"] = {
        "type": "object",
        "description": "per-candidate variables, usable as {{ name }} in any string",
        "additionalProperties": {
            "anyOf": [{"$ref": "#/$defs/Variable"}, {"type": ["string", "number", "boolean"]}]
        },
    }
    # A scenario that extends a topology may omit the sections the base provides.
    schema["required"] = ["scenario"]
    schema["title"] = "tai-labs scenario (format 1)"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
