"""``extends``: a scenario builds on a shared topology instead of copying it.

``extends: pme`` names ``scenarios/_topologies/pme.yaml``; a value ending in ``.yaml`` is a
path relative to the file that says it. Bases may extend further bases. Merging rules:
mappings merge key by key; lists whose items all carry a ``name`` (or an ``id``) merge item by
item, so a scenario can add a node or change one node's memory without repeating the rest;
any other value in the scenario replaces the base's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tai_labs.scenario import limits, paths
from tai_labs.scenario.diagnostics import Diagnostic, KeyPath, Location, ScenarioError
from tai_labs.scenario.source import SourceMap, read_yaml

TOPOLOGIES_DIRNAME = "_topologies"
_TOPOLOGY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def find_topologies_dir(file: Path) -> Path | None:
    for parent in file.resolve().parents:
        candidate = parent / TOPOLOGIES_DIRNAME
        if candidate.is_dir():
            return candidate
    return None


def catalogue_roots(file: Path) -> tuple[Path, ...]:
    """The folders the paths of the scenario ``file`` may point into (see ``paths``)."""
    return paths.catalogue_roots(file.resolve().parent, find_topologies_dir(file))


def _base_path(file: Path, ref: str, roots: tuple[Path, ...]) -> Path | None:
    if ref.endswith((".yaml", ".yml")):
        return paths.resolve_inside(file.parent, ref, roots)
    if not _TOPOLOGY_NAME.fullmatch(ref):
        raise paths.PathRefused(
            f"{ref[:80]!r} is not a topology name",
            "use the name of a file of scenarios/_topologies, or a relative .yaml path",
        )
    folder = find_topologies_dir(file)
    return (folder / f"{ref}.yaml").resolve() if folder else None


def load_document(
    file: Path, _chain: tuple[Path, ...] = (), *, roots: tuple[Path, ...] | None = None
) -> tuple[dict[str, Any], SourceMap]:
    """Read ``file`` and everything it extends, merged into one document and source map.

    Bases must lie inside ``roots`` (default: the catalogue roots of ``file``).
    """
    file = file.resolve()
    roots = roots if roots is not None else catalogue_roots(file)
    data, srcmap = read_yaml(file)
    if not isinstance(data, dict):
        raise ScenarioError(
            [Diagnostic(srcmap.locate(()), (), "the document must be a mapping of keys", None)]
        )
    ref = data.pop("extends", None)
    if ref is None:
        return data, srcmap
    where = srcmap.locate(("extends",))
    if not isinstance(ref, str):
        raise ScenarioError(
            [Diagnostic(where, ("extends",), "must be a topology name or a .yaml path", None)]
        )
    try:
        base_file = _base_path(file, ref, roots)
    except paths.PathRefused as exc:
        raise ScenarioError([Diagnostic(where, ("extends",), exc.message, exc.hint)]) from None
    if base_file is None or not base_file.is_file():
        raise ScenarioError(
            [
                Diagnostic(
                    where,
                    ("extends",),
                    f"base {ref!r} not found",
                    f"create {base_file or TOPOLOGIES_DIRNAME + '/' + ref + '.yaml'} "
                    "or fix the name",
                )
            ]
        )
    chain = (*_chain, file)
    if base_file in chain:
        cycle = " -> ".join(p.name for p in (*chain, base_file))
        raise ScenarioError(
            [Diagnostic(where, ("extends",), f"circular extends: {cycle}", "break the cycle")]
        )
    if len(chain) >= limits.MAX_EXTENDS_DEPTH:
        raise ScenarioError(
            [
                Diagnostic(
                    where,
                    ("extends",),
                    f"more than {limits.MAX_EXTENDS_DEPTH} bases extend each other",
                    "shorten the chain of extends",
                )
            ]
        )
    base, base_map = load_document(base_file, chain, roots=roots)
    merged_map = SourceMap(dict(base_map.locations))
    merged = _merge(base, data, (), merged_map, srcmap)
    return merged, merged_map


def _item_key(items: list[Any]) -> str | None:
    # Only plain names merge item by item: a list or mapping as a name cannot be matched
    # (the model stage reports it).
    for key in ("name", "id"):
        if items and all(
            isinstance(i, dict) and isinstance(i.get(key), str | int | float | bool) for i in items
        ):
            return key
    return None


def _merge(base: Any, over: Any, path: KeyPath, out_map: SourceMap, over_map: SourceMap) -> Any:
    """Merge ``over`` onto ``base``; ``out_map`` starts as the base's map and is updated."""
    if isinstance(base, dict) and isinstance(over, dict):
        result = dict(base)
        for key, value in over.items():
            sub = (*path, key)
            if key in base:
                result[key] = _merge(base[key], value, sub, out_map, over_map)
            else:
                result[key] = value
                out_map.graft(sub, over_map, sub)
            if sub in over_map.locations:
                out_map.locations[sub] = over_map.locations[sub]
        return result
    if isinstance(base, list) and isinstance(over, list):
        key = _item_key(base)
        if key is not None and _item_key(over) == key:
            return _merge_named(base, over, key, path, out_map, over_map)
    out_map.drop(path)
    out_map.graft(path, over_map, path)
    return over


def _merge_named(
    base: list[dict[str, Any]],
    over: list[dict[str, Any]],
    key: str,
    path: KeyPath,
    out_map: SourceMap,
    over_map: SourceMap,
) -> list[dict[str, Any]]:
    base_map = SourceMap(dict(out_map.locations))
    out_map.drop(path)
    out_map.locations[path] = over_map.locate(path) or base_map.locate(path) or Location(Path(), 0)
    result: list[dict[str, Any]] = []
    positions: dict[Any, int] = {}
    for i, item in enumerate(base):
        positions[item[key]] = len(result)
        result.append(item)
        out_map.graft((*path, len(result) - 1), base_map, (*path, i))
    merged_names: set[Any] = set()
    for j, item in enumerate(over):
        # A name seen twice in the same file is a duplicate, not an override: keep both so
        # the cross-reference stage reports it.
        if item[key] in positions and item[key] not in merged_names:
            merged_names.add(item[key])
            index = positions[item[key]]
            item_map = SourceMap()
            item_map.graft((*path, index), out_map, (*path, index))
            over_item_map = SourceMap()
            over_item_map.graft((*path, index), over_map, (*path, j))
            out_map.drop((*path, index))
            result[index] = _merge(result[index], item, (*path, index), item_map, over_item_map)
            out_map.graft((*path, index), item_map, (*path, index))
        else:
            merged_names.add(item[key])
            positions[item[key]] = len(result)
            result.append(item)
            out_map.graft((*path, len(result) - 1), over_map, (*path, j))
    return result
