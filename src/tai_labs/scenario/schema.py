"""JSON Schema of scenario.yaml as authors write it (before variables are rendered).

It serves editors (completion, unknown keys, obvious type errors). Two things make it looser
than the loader: any value may be a jinja2 template (``"{{ user.login }}"``) in place of the
number, pattern or choice it stands for, and no key is required below the top, because
``extends`` may supply it. `tai-labs validate` remains the full check.
"""

from __future__ import annotations

from typing import Any

from tai_labs.plugins import ENGINE_PLUGINS
from tai_labs.scenario.model import Scenario
from tai_labs.scenario.variables import Variable

TEMPLATE = {"type": "string", "pattern": r"\{\{|\{%", "description": "a jinja2 template"}
_TEMPLATABLE = ("pattern", "enum", "const", "format")


def _loosen(node: Any) -> Any:
    if isinstance(node, list):
        return [_loosen(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {
        k: ({name: _loosen(sub) for name, sub in v.items()} if k == "properties" else _loosen(v))
        for k, v in node.items()
    }
    node.pop("required", None)
    typed = node.get("type") in ("integer", "number", "boolean")
    if typed or any(k in node for k in _TEMPLATABLE):
        return {"anyOf": [node, TEMPLATE]}
    return node


def _engine_choices(defs: dict[str, Any]) -> dict[str, Any]:
    """Engines are plugins: editors are offered the names of those installed."""
    engine = defs["Node"]["properties"]["engine"]
    engine.pop("title", None)
    engine["anyOf"][0] = {"$ref": "#/$defs/Engine"}
    choices = {"enum": ENGINE_PLUGINS.declared(), "title": "Engine", "type": "string"}
    # In the model's own (sorted) order of definitions, as an enum of the model would be.
    return dict(sorted({**defs, "Engine": choices}.items()))


def scenario_json_schema() -> dict[str, Any]:
    schema = Scenario.model_json_schema(by_alias=True)
    variable = Variable.model_json_schema()
    defs = _engine_choices(schema.pop("$defs", {}))
    defs.update(variable.pop("$defs", {}))
    defs["Variable"] = variable
    properties = {name: _loosen(sub) for name, sub in schema["properties"].items()}
    properties["extends"] = {
        "type": "string",
        "description": "a shared topology name (scenarios/_topologies/NAME.yaml) or a .yaml path",
    }
    properties["variables"] = {
        "type": "object",
        "description": "per-candidate variables, usable as {{ name }} in any string",
        "additionalProperties": {
            "anyOf": [{"$ref": "#/$defs/Variable"}, {"type": ["string", "number", "boolean"]}]
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "tai-labs scenario (format 1)",
        "type": "object",
        "additionalProperties": False,
        "required": ["scenario"],
        "properties": properties,
        "$defs": {name: _loosen(d) for name, d in defs.items()},
    }
