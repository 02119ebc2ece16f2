"""Render a scenario document's strings with its variables, and drop items whose ``when`` is false.

Rendering is strict: an undefined variable is an error, not an empty string. A string that is
exactly one ``{{ expression }}`` keeps the expression's type (a list stays a list, a number a
number), so ``points: "{{ weight }}"`` or ``groups: "{{ team_groups }}"`` work.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from tai_labs.scenario.diagnostics import Diagnostic, KeyPath
from tai_labs.scenario.source import SourceMap

_SINGLE_EXPRESSION = re.compile(r"^\{\{(?P<expr>(?:(?!\}\}).)*)\}\}$", re.DOTALL)
#: Sections whose strings are not rendered with the document (see module docs).
UNRENDERED = frozenset({"variables", "brief"})
#: Lists whose items may carry a ``when`` condition.
CONDITIONAL_LISTS: tuple[KeyPath, ...] = (
    ("setup",),
    ("faults",),
    ("checks",),
    ("hints",),
    ("solution", "steps"),
    ("solution", "alternatives"),
    ("solution", "wrong"),
    ("solution", "alternatives", "*", "steps"),
    ("solution", "wrong", "*", "steps"),
)


def make_environment() -> SandboxedEnvironment:
    # Sandboxed: scenarios are data from authors we do not fully control.
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env


def render_value(env: jinja2.Environment, text: str, context: Mapping[str, Any]) -> Any:
    """Render one string; keep the native type when it is a single expression."""
    if "{{" not in text and "{%" not in text:
        return text
    match = _SINGLE_EXPRESSION.match(text.strip())
    if match:
        return env.compile_expression(match["expr"].strip(), undefined_to_none=False)(**context)
    return env.from_string(text).render(**context)


def evaluate(env: jinja2.Environment, expression: str, context: Mapping[str, Any]) -> Any:
    return env.compile_expression(expression, undefined_to_none=False)(**context)


def describe_template_error(exc: Exception) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return f"template error: {exc.message}"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"template syntax error: {exc.message}"
    return f"template error: {exc}"


TEMPLATE_HINT = "check the variable names under 'variables:' and the jinja2 syntax"


@dataclass
class Rendered:
    data: Any
    srcmap: SourceMap
    problems: list[Diagnostic] = field(default_factory=list)


def render_document(
    env: jinja2.Environment, data: dict[str, Any], srcmap: SourceMap, context: Mapping[str, Any]
) -> Rendered:
    problems: list[Diagnostic] = []

    def walk(value: Any, path: KeyPath) -> Any:
        if isinstance(value, dict):
            return {
                k: (v if (not path and k in UNRENDERED) or k == "when" else walk(v, (*path, k)))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str):
            try:
                return render_value(env, value, context)
            except jinja2.TemplateError as exc:
                problems.append(
                    Diagnostic(
                        srcmap.locate(path), path, describe_template_error(exc), TEMPLATE_HINT
                    )
                )
                return value
        return value

    rendered = walk(data, ())
    out_map = SourceMap(dict(srcmap.locations))
    for pattern in CONDITIONAL_LISTS:
        for list_path in _expand(rendered, pattern):
            _filter_when(env, rendered, list_path, out_map, context, problems)
    return Rendered(rendered, out_map, problems)


def _expand(document: Any, pattern: KeyPath, prefix: KeyPath = ()) -> list[KeyPath]:
    """Concrete paths matching ``pattern``, where ``*`` stands for every index of a list."""
    if not pattern:
        return [prefix]
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        if not isinstance(document, list):
            return []
        return [p for i, item in enumerate(document) for p in _expand(item, rest, (*prefix, i))]
    if not isinstance(document, dict) or head not in document:
        return []
    return _expand(document[head], rest, (*prefix, head))


def _filter_when(
    env: jinja2.Environment,
    document: dict[str, Any],
    list_path: KeyPath,
    srcmap: SourceMap,
    context: Mapping[str, Any],
    problems: list[Diagnostic],
) -> None:
    parent: Any = document
    for key in list_path[:-1]:
        parent = parent.get(key) if isinstance(parent, dict) else None
    items = parent.get(list_path[-1]) if isinstance(parent, dict) else None
    if not isinstance(items, list):
        return
    old_map = SourceMap(dict(srcmap.locations))
    kept: list[Any] = []
    for i, item in enumerate(items):
        keep = True
        if isinstance(item, dict) and "when" in item:
            where = (*list_path, i, "when")
            condition = item["when"]
            try:
                keep = bool(evaluate(env, str(condition), context))
            except jinja2.TemplateError as exc:
                problems.append(
                    Diagnostic(
                        srcmap.locate(where), where, describe_template_error(exc), TEMPLATE_HINT
                    )
                )
            item = {k: v for k, v in item.items() if k != "when"}
        if keep:
            srcmap.drop((*list_path, len(kept)))
            srcmap.graft((*list_path, len(kept)), old_map, (*list_path, i))
            kept.append(item)
    for stale in range(len(kept), len(items)):
        srcmap.drop((*list_path, stale))
    parent[list_path[-1]] = kept
