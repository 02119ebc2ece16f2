"""Turn pydantic validation errors into diagnostics an author can act on."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tai_labs.scenario.diagnostics import Diagnostic, KeyPath, shown_value
from tai_labs.scenario.source import SourceMap

M = TypeVar("M", bound=BaseModel)

_TYPE_WORDS = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a text value",
    "list_type": "a list (YAML '- item' lines)",
    "dict_type": "a mapping (YAML 'key: value' lines)",
    "model_type": "a mapping (YAML 'key: value' lines)",
    "model_attributes_type": "a mapping (YAML 'key: value' lines)",
    "tuple_type": "a list",
}


def validate_model(
    model: type[M], data: Any, srcmap: SourceMap, prefix: KeyPath = ()
) -> tuple[M | None, list[Diagnostic]]:
    """Validate ``data`` as ``model``; on failure return one diagnostic per problem."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, [_diagnostic(model, data, srcmap, prefix, err) for err in exc.errors()]


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[KeyPath, tuple[Any, ...]]:
    """Split a pydantic ``loc`` into the part that exists in the data and the rest.

    Pydantic adds union-member and validator tags to ``loc``; only real keys and indexes
    name a place in the file.
    """
    current = data
    path: list[str | int] = []
    for i, part in enumerate(loc):
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if not (in_dict or in_list):
            return tuple(path), loc[i:]
        current = current[part]
        path.append(part)
    return tuple(path), ()


def _model_at(model: type[BaseModel], path: KeyPath) -> type[BaseModel] | None:
    """The pydantic model describing the mapping at ``path`` (for key suggestions)."""
    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part) or next(
            (f for f in current.model_fields.values() if f.alias == part), None
        )
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """``list[Node] | None`` -> ``Node``: the first model class inside an annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (list, tuple, dict, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _unwrap(arg)
            if found is not None:
                return found
    return None


def _keys_of(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _diagnostic(
    model: type[BaseModel], data: Any, srcmap: SourceMap, prefix: KeyPath, err: Any
) -> Diagnostic:
    loc = tuple(err["loc"])
    path, rest = _data_path(data, loc)
    full = (*prefix, *path)
    kind = err["type"]
    where = srcmap.locate(full)
    if kind == "missing" and rest:
        key = rest[0]
        return Diagnostic(
            where, (*full, key), f"required key {key!r} is missing", f"add '{key}:' here"
        )
    if kind == "extra_forbidden":
        known = _keys_of(_model_at(model, path[:-1]))
        close = difflib.get_close_matches(str(path[-1]) if path else "", known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else None
        if hint is None and known:
            hint = "allowed here: " + ", ".join(known)
        return Diagnostic(where, full, f"unknown key {path[-1]!r}" if path else "unknown key", hint)
    if kind in _TYPE_WORDS:
        got = err.get("input")
        shown = shown_value(got) if not isinstance(got, dict | list) else type(got).__name__
        return Diagnostic(where, full, f"expected {_TYPE_WORDS[kind]}, got {shown}", None)
    if kind == "literal_error" or kind == "enum":
        expected = err.get("ctx", {}).get("expected", "")
        return Diagnostic(
            where, full, f"{shown_value(err.get('input'))} is not allowed", f"use one of {expected}"
        )
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    elif message.startswith("Assertion failed, "):
        message = message[len("Assertion failed, ") :]
    if message.split(" ", 1)[0] in ("Input", "String", "List", "Value", "Tuple", "Dictionary"):
        message = message[:1].lower() + message[1:]  # pydantic's own sentences, mid-line
    if kind == "string_pattern_mismatch":
        message = f"{err.get('input')!r} is not a valid value here"
        hint = _pattern_hint(full)
        return Diagnostic(where, full, message, hint)
    return Diagnostic(where, full, message, None)


def _pattern_hint(path: KeyPath) -> str | None:
    last = next((p for p in reversed(path) if isinstance(p, str)), "")
    hints = {
        "id": "use lowercase letters, digits and dashes, starting with a letter",
        "name": "use lowercase letters, digits and dashes, starting with a letter (short)",
        "criterion": "use a referential id such as C6.2 (see `tai-labs show` or docs/)",
        "login": "use lowercase letters, digits, dots or dashes (20 characters at most)",
        "realm": "use a DNS domain in lowercase, e.g. pme.lan",
        "netbios": "use up to 15 uppercase letters and digits, e.g. PME",
        "mac": "use lowercase hex pairs, e.g. 52:54:00:12:34:56",
    }
    if last in hints:
        return hints[last]
    if path and path[0] == "scenario" and last == "competences":
        return "use competence ids C1 to C11"
    return None
