"""Resource limits of a scenario: what the loader refuses before it could hang or eat memory.

Scenario files come from authors we do not fully control; every bound here turns a document
that would exhaust time or memory into a diagnostic with its line. The figures are documented
in docs/scenario-format.md ("Limits"); the shipped scenarios use a small fraction of each.
"""

from __future__ import annotations

from typing import Any, Protocol

from tai_labs.scenario.diagnostics import Diagnostic, KeyPath, Location


class SourceMap(Protocol):
    """Where each key path sits in its file (``source.SourceMap``, which reads files with
    these limits: described here, not imported, so the two modules do not import each other)."""

    def locate(self, path: KeyPath) -> Location | None: ...


#: Bytes of one YAML file (scenario, base topology) and of one brief or template file.
MAX_FILE_BYTES = 256 * 1024
#: Characters of one line of YAML.
MAX_LINE_CHARS = 10_000
#: Depth of nested mappings and lists.
MAX_DEPTH = 32
#: Alias nodes (``*name``) in one file, and values built in all (aliases expanded).
MAX_ALIASES = 64
MAX_VALUES = 20_000
#: Items of any one list, and of the lists that cost most to check.
MAX_LIST_ITEMS = 1_000
MAX_SECTION_ITEMS: dict[KeyPath, int] = {
    ("topology", "nodes"): 64,
    ("topology", "networks"): 32,
    ("checks",): 200,
    ("faults",): 100,
    ("setup",): 200,
    ("hints",): 50,
    ("directory", "users"): 500,
    ("directory", "groups"): 200,
    ("directory", "ous"): 200,
    ("directory", "gpos"): 100,
}
#: Variables, options of one ``choice`` (each is a variant validated in full), ``person``
#: variables, and the addresses one ``host`` variable may draw from.
MAX_VARIABLES = 200
MAX_CHOICES = 16
MAX_PERSONS = 100
MAX_HOST_RANGE = 65_534
#: Longest ``depends_on`` chain between checks.
MAX_DEPENDENCY_CHAIN = 50
#: Length of one ``extends`` value (a name or a relative path) and of a chain of bases.
MAX_REF_CHARS = 255
MAX_EXTENDS_DEPTH = 8
#: One template evaluation: characters (or items) it may produce, lines of template code it
#: may run, and seconds it may take.
MAX_TEMPLATE_OUTPUT = 100_000
MAX_TEMPLATE_STEPS = 1_000_000
MAX_TEMPLATE_SECONDS = 1.0
#: All the template evaluations of one load or validation together (every variant): lines of
#: template code and seconds. Without it, many evaluations each just under the bound above
#: add up to minutes; with it, validating any document stays under 2 s.
MAX_LOAD_TEMPLATE_STEPS = 2_000_000
MAX_LOAD_TEMPLATE_SECONDS = 1.0


def check_document(data: dict[str, Any], srcmap: SourceMap) -> list[Diagnostic]:
    """Counts of the merged document (after ``extends``) against the limits above."""
    problems: list[Diagnostic] = []
    for path, limit in MAX_SECTION_ITEMS.items():
        items = _at(data, path)
        if isinstance(items, list) and len(items) > limit:
            problems.append(_too_many(srcmap, path, len(items), limit))
    stack: list[tuple[KeyPath, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(((*path, k), v) for k, v in value.items())
        elif isinstance(value, list):
            if len(value) > MAX_LIST_ITEMS and path not in MAX_SECTION_ITEMS:
                problems.append(_too_many(srcmap, path, len(value), MAX_LIST_ITEMS))
                continue
            stack.extend(((*path, i), v) for i, v in enumerate(value))
    variables = data.get("variables")
    if isinstance(variables, dict):
        problems += check_variables(variables, srcmap)
    return problems


def check_variables(variables: dict[Any, Any], srcmap: SourceMap) -> list[Diagnostic]:
    problems = []
    if len(variables) > MAX_VARIABLES:
        problems.append(_too_many(srcmap, ("variables",), len(variables), MAX_VARIABLES))
    persons = [n for n, v in variables.items() if isinstance(v, dict) and v.get("person")]
    if len(persons) > MAX_PERSONS:
        path: KeyPath = ("variables", persons[MAX_PERSONS])
        problems.append(
            Diagnostic(
                srcmap.locate(path),
                path,
                f"{len(persons)} person variables, more than the limit of {MAX_PERSONS}",
                "use fewer generated people",
            )
        )
    for name, spec in variables.items():
        choice = spec.get("choice") if isinstance(spec, dict) else None
        if isinstance(choice, list) and len(choice) > MAX_CHOICES:
            choice_path: KeyPath = ("variables", name, "choice")
            problems.append(
                Diagnostic(
                    srcmap.locate(choice_path),
                    choice_path,
                    f"{len(choice)} options, more than the limit of {MAX_CHOICES}",
                    "each option is a variant validated in full: keep the list short",
                )
            )
    return problems


def longest_chain(graph: dict[str, list[str]]) -> list[str]:
    """The longest ``depends_on`` path of an acyclic graph (iterative; cycles are cut)."""
    best: dict[str, list[str]] = {}
    for start in graph:
        if start in best:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        on_path: set[str] = {start}
        while stack:
            node, i = stack[-1]
            deps = [d for d in graph.get(node, []) if d in graph]
            if i < len(deps):
                stack[-1] = (node, i + 1)
                nxt = deps[i]
                if nxt not in best and nxt not in on_path:
                    stack.append((nxt, 0))
                    on_path.add(nxt)
                continue
            stack.pop()
            on_path.discard(node)
            longest = max((best[d] for d in deps if d in best), key=len, default=[])
            best[node] = [node, *longest]
    return max(best.values(), key=len, default=[])


def _at(data: Any, path: KeyPath) -> Any:
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _too_many(srcmap: SourceMap, path: KeyPath, count: int, limit: int) -> Diagnostic:
    return Diagnostic(
        srcmap.locate(path),
        path,
        f"{count} items, more than the limit of {limit}",
        "split the scenario or shorten the list (limits: docs/scenario-format.md)",
    )
