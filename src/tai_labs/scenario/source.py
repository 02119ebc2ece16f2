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

from tai_labs.scenario import limits
from tai_labs.scenario.diagnostics import Diagnostic, KeyPath, Location, ScenarioError, shown_value


class _Locations(dict[KeyPath, Location]):
    """A dict of key paths that also knows each path's children, so that a subtree is found
    without scanning the whole document (merges and ``when`` filters graft many subtrees)."""

    def __init__(self, items: dict[KeyPath, Location] | None = None) -> None:
        super().__init__()
        self._children: dict[KeyPath, dict[KeyPath, None]] = {}
        for path, loc in (items or {}).items():
            self[path] = loc

    def __setitem__(self, path: KeyPath, loc: Location) -> None:
        if path not in self:
            for n in range(len(path), 0, -1):
                kids = self._children.setdefault(path[: n - 1], {})
                if path[:n] in kids:
                    break  # the ancestors are linked already
                kids[path[:n]] = None
        super().__setitem__(path, loc)

    def setdefault(self, path: KeyPath, loc: Location) -> Location:  # type: ignore[override]
        if path not in self:
            self[path] = loc
        return self[path]

    def under(self, prefix: KeyPath) -> list[KeyPath]:
        """Every path present at or below ``prefix``."""
        found, stack = [], [prefix]
        while stack:
            path = stack.pop()
            if path in self:
                found.append(path)
            stack.extend(self._children.get(path, ()))
        return found


@dataclass
class SourceMap:
    """Key path -> location of the value (for mappings: of the key that holds it)."""

    locations: dict[KeyPath, Location] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.locations, _Locations):
            self.locations = _Locations(self.locations)

    def locate(self, path: KeyPath) -> Location | None:
        """The location of ``path``, or of its closest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.locations.get(tuple(path[:end]))
            if found is not None:
                return found
        return None

    def _under(self, prefix: KeyPath) -> list[KeyPath]:
        assert isinstance(self.locations, _Locations)
        return self.locations.under(tuple(prefix))

    def subtree(self, prefix: KeyPath) -> Iterator[tuple[KeyPath, Location]]:
        n = len(prefix)
        for path in self._under(prefix):
            yield path[n:], self.locations[path]

    def graft(self, prefix: KeyPath, other: SourceMap, other_prefix: KeyPath = ()) -> None:
        """Copy ``other``'s entries under ``other_prefix`` to ``prefix`` in this map."""
        for rel, loc in list(other.subtree(other_prefix)):
            self.locations[prefix + rel] = loc

    def drop(self, prefix: KeyPath) -> None:
        for path in self._under(prefix):
            del self.locations[path]


class _LimitError(Exception):
    """A limit of ``limits`` was passed while reading; becomes a diagnostic."""

    def __init__(self, line: int, message: str, hint: str) -> None:
        super().__init__(message)
        self.line, self.message, self.hint = line, message, hint


class _Bounds:
    """Composer mixin refusing nesting deeper than MAX_DEPTH and more than MAX_ALIASES.

    The composer recurses once per nested collection; bounding the depth here keeps a
    document of ten thousand ``[`` from exhausting the interpreter's stack.
    """

    _depth = 0
    _aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[attr-defined]
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > limits.MAX_ALIASES:
                raise _LimitError(
                    line,
                    f"more than {limits.MAX_ALIASES} aliases (*name) in one file",
                    "write the values out, or share them through 'extends'",
                )
        nested = isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent)
        if nested:
            self._depth += 1
            if self._depth > limits.MAX_DEPTH:
                raise _LimitError(
                    line,
                    f"nested more than {limits.MAX_DEPTH} levels deep",
                    "flatten this value",
                )
        try:
            return super().compose_node(parent, index)  # type: ignore[misc,no-any-return]
        finally:
            if nested:
                self._depth -= 1


_CParser: Any = getattr(yaml.cyaml, "CParser", None)

if _CParser is not None:
    # libyaml's parser (C) with PyYAML's composer (Python) on top: the parse is many times
    # faster, and the composer is where depth and aliases are bounded.
    class _BoundedLoader(
        _Bounds,
        yaml.composer.Composer,
        _CParser,
        yaml.constructor.SafeConstructor,
        yaml.resolver.Resolver,
    ):
        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

else:  # pragma: no cover (PyYAML built without libyaml)

    class _BoundedLoader(_Bounds, yaml.SafeLoader):  # type: ignore[no-redef]
        pass


class _Builder:
    def __init__(self, file: Path) -> None:
        self.file = file
        self.map = SourceMap()
        self.problems: list[Diagnostic] = []
        self._constructor = yaml.SafeLoader("")  # only its scalar and merge-key logic is used
        self._values = 0

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.file, node.start_mark.line + 1)

    def _scalar(self, node: yaml.Node) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # PyYAML's constructors fail in many ways on a bad tagged value
            raise _LimitError(
                node.start_mark.line + 1,
                f"YAML error: cannot read {shown_value(node.value)} as "
                f"{node.tag.rsplit(':', 1)[-1]} ({type(exc).__name__})",
                "remove the !!tag or fix the value",
            ) from None

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        # Aliases can nest a value inside itself or multiply it ("billion laughs"): count
        # what is built, aliases expanded, and how deep.
        self._values += 1
        if self._values > limits.MAX_VALUES:
            raise _LimitError(
                node.start_mark.line + 1,
                f"more than {limits.MAX_VALUES} values (aliases expanded)",
                "the document is too large: split it or use fewer aliases",
            )
        if len(path) > limits.MAX_DEPTH:
            raise _LimitError(
                node.start_mark.line + 1,
                f"nested more than {limits.MAX_DEPTH} levels deep (aliases expanded)",
                "an alias may be used inside its own value: write the value out",
            )
        self.map.locations.setdefault(path, self.loc(node))
        if isinstance(node, yaml.MappingNode):
            self._constructor.flatten_mapping(node)  # YAML merge keys (<<)
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _LimitError(
                        key_node.start_mark.line + 1,
                        "a key must be a plain value, not a list or mapping",
                        "write 'key: value'",
                    )
                key = self._scalar(key_node)
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
        return self._scalar(node)


def _line_of(text: str | bytes, position: int) -> int:
    newline = "\n" if isinstance(text, str) else b"\n"
    return text[:position].count(newline) + 1  # type: ignore[arg-type]


def _error(file: Path, line: int, message: str, hint: str | None) -> ScenarioError:
    return ScenarioError([Diagnostic(Location(file, line), (), message, hint)])


def read_text(file: Path) -> str:
    """A scenario's text file (YAML, brief, template): UTF-8, at most MAX_FILE_BYTES.

    Raise ScenarioError naming the file (and the line of a bad byte) if it cannot be used.
    """
    try:
        with file.open("rb") as stream:
            data = stream.read(limits.MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise _error(file, 0, "file not found", "check the path") from None
    except IsADirectoryError:
        raise _error(file, 0, "is a folder, not a file", "name a file") from None
    except OSError as exc:
        raise _error(file, 0, f"cannot read: {exc.strerror or exc}", "check the path") from None
    if len(data) > limits.MAX_FILE_BYTES:
        raise _error(
            file,
            1,
            f"file larger than {limits.MAX_FILE_BYTES // 1024} KiB",
            "split it (limits: docs/scenario-format.md)",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = _line_of(data, exc.start)
        raise _error(file, line, f"not UTF-8 text ({exc.reason})", "save as UTF-8") from None


def read_yaml(file: Path) -> tuple[Any, SourceMap]:
    """Parse one YAML file into plain data plus its source map; raise ScenarioError if broken."""
    text = read_text(file)
    for number, text_line in enumerate(text.splitlines(), 1):
        if len(text_line) > limits.MAX_LINE_CHARS:
            raise _error(
                file,
                number,
                f"line longer than {limits.MAX_LINE_CHARS} characters",
                "break it (a YAML block scalar '|' keeps long text readable)",
            )
    loader = None
    try:
        loader = _BoundedLoader(text)  # its reader refuses control characters here
        node = loader.get_single_node()
    except _LimitError as exc:
        raise _error(file, exc.line, exc.message, exc.hint) from None
    except yaml.reader.ReaderError as exc:
        char = exc.character
        code = ord(char) if isinstance(char, str) else char  # libyaml gives the code point
        shown = f"U+{code:04X}" if isinstance(code, int) else repr(char)
        raise _error(
            file,
            _line_of(text, exc.position),
            f"character {shown} is not allowed in YAML",
            "remove it (control characters cannot appear in a scenario)",
        ) from None
    except yaml.MarkedYAMLError as exc:
        # The context mark is where the broken construct starts (an unclosed bracket or
        # quote), which is where the author has to look; the problem mark is where the
        # parser gave up, often a line later.
        mark = exc.context_mark or exc.problem_mark
        line = mark.line + 1 if mark else 0
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{exc.context}, {what}"
        raise _error(
            file,
            line,
            f"YAML syntax error: {what}",
            "check indentation, colons and quotes around this line",
        ) from None
    except yaml.YAMLError as exc:
        raise _error(file, 0, f"YAML error: {exc}", None) from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        return {}, SourceMap({(): Location(file, 1)})
    builder = _Builder(file)
    try:
        data = builder.build(node, ())
    except _LimitError as exc:
        raise _error(file, exc.line, exc.message, exc.hint) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise _error(file, line, f"YAML error: {exc.problem}", None) from None
    if builder.problems:
        raise ScenarioError(builder.problems)
    return data, builder.map
