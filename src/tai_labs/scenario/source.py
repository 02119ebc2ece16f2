"""Read YAML while remembering where every value came from.

PyYAML's composer keeps a start mark on every node; we build plain Python data from the
node tree and, beside it, a map from key paths to file lines. Later stages (extends,
pydantic validation, cross-references) report their findings through that map.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tai_labs.scenario.diagnostics import Diagnostic, KeyPath, Location, ScenarioError


@dataclass
class SourceMap:
    """Key path -> location of the value (for mappings: of the key that holds it)."""

    locations: dict[KeyPath, Location] = field(default_factory=dict)

    def locate(self, path: KeyPath) -> Location | None:
        """The location of ``path``, or of its closest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.locations.get(tuple(path[:end]))
            if found is not None:
                return found
        return None

    def subtree(self, prefix: KeyPath) -> Iterator[tuple[KeyPath, Location]]:
        n = len(prefix)
        for path, loc in self.locations.items():
            if path[:n] == prefix:
                yield path[n:], loc

    def graft(self, prefix: KeyPath, other: SourceMap, other_prefix: KeyPath = ()) -> None:
        """Copy ``other``'s entries under ``other_prefix`` to ``prefix`` in this map."""
        for rel, loc in list(other.subtree(other_prefix)):
            self.locations[prefix + rel] = loc

    def drop(self, prefix: KeyPath) -> None:
        n = len(prefix)
        for path in [p for p in self.locations if p[:n] == prefix]:
            del self.locations[path]


class _Builder:
    def __init__(self, file: Path) -> None:
        self.file = file
        self.map = SourceMap()
        self.problems: list[Diagnostic] = []
        self._constructor = yaml.SafeLoader("")  # only its scalar and merge-key logic is used

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.file, node.start_mark.line + 1)

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self.map.locations.setdefault(path, self.loc(node))
        if isinstance(node, yaml.MappingNode):
            self._constructor.flatten_mapping(node)  # YAML merge keys (<<)
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self._constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    key = str(key)
                if key in out:
                    self.problems.append(
                        Diagnostic(
                            self.loc(key_node),
                            (*path, key),
                            f"duplicate key {key!r}",
                            "a key may appear once per mapping; merge the two entries",
                        )
                    )
                    continue
                self.map.locations[(*path, key)] = self.loc(key_node)
                out[key] = self.build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._constructor.construct_object(node, deep=True)


def read_yaml(file: Path) -> tuple[Any, SourceMap]:
    """Parse one YAML file into plain data plus its source map; raise ScenarioError if broken."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(
            [Diagnostic(Location(file, 0), (), "file not found", "check the path")]
        ) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            [Diagnostic(Location(file, 0), (), f"not UTF-8 text ({exc.reason})", "save as UTF-8")]
        ) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        # The context mark is where the broken construct starts (an unclosed bracket or
        # quote), which is where the author has to look; the problem mark is where the
        # parser gave up, often a line later.
        mark = exc.context_mark or exc.problem_mark
        line = mark.line + 1 if mark else 0
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{exc.context}, {what}"
        raise ScenarioError(
            [
                Diagnostic(
                    Location(file, line),
                    (),
                    f"YAML syntax error: {what}",
                    "check indentation, colons and quotes around this line",
                )
            ]
        ) from None
    if node is None:
        return {}, SourceMap({(): Location(file, 1)})
    builder = _Builder(file)
    try:
        data = builder.build(node, ())
    except yaml.constructor.ConstructorError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise ScenarioError(
            [Diagnostic(Location(file, line), (), f"YAML error: {exc.problem}", None)]
        ) from None
    if builder.problems:
        raise ScenarioError(builder.problems)
    return data, builder.map
