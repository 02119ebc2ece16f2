"""Mutations of the shipped scenarios: the broken and hostile documents the loader must survive.

Each mutation takes a ``Doc`` (the scenario's text, its parsed data, its extra files) and a
random stream, and returns a new ``Doc``. The kinds follow issue 13: deleted keys, wrong types,
huge strings, control characters, deep nesting, alias bombs, duplicate keys, broken templates,
unknown references, dependency cycles and chains, missing ``extends``, non-UTF-8 bytes, huge
choice lists, host ranges and person counts, paths out of the catalogue.

Used by ``fuzz_loader.py`` (the bounded run and the 10,000-document run) and by the Hypothesis
property tests (tests/unit/test_loader_properties.py).
"""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "scenarios"


@dataclass(frozen=True)
class Doc:
    """One scenario as files: ``scenario.yaml`` (bytes) and the files beside it."""

    block: str  # ccp1, ccp2, ccp3
    name: str  # folder name
    text: bytes
    files: dict[str, bytes] = field(default_factory=dict)  # name -> content, beside it
    kinds: tuple[str, ...] = ()  # mutations applied, in order

    def write(self, root: Path) -> Path:
        """Write the document into a catalogue under ``root``; return its scenario.yaml."""
        folder = root / "scenarios" / self.block / self.name
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in self.files.items():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        file = folder / "scenario.yaml"
        file.write_bytes(self.text)
        return file


def shipped() -> list[Doc]:
    """Every scenario of the catalogue, as a Doc."""
    docs = []
    for file in sorted(CATALOGUE.glob("ccp*/*/scenario.yaml")):
        files = {
            p.name: p.read_bytes()
            for p in sorted(file.parent.iterdir())
            if p.is_file() and p.name != "scenario.yaml"
        }
        docs.append(Doc(file.parent.parent.name, file.parent.name, file.read_bytes(), files))
    return docs


def write_topologies(root: Path) -> None:
    target = root / "scenarios" / "_topologies"
    target.mkdir(parents=True, exist_ok=True)
    for p in (CATALOGUE / "_topologies").glob("*.yaml"):
        (target / p.name).write_bytes(p.read_bytes())


# --- helpers on data ------------------------------------------------------------------------


def _load(doc: Doc) -> Any:
    try:
        return yaml.load(doc.text.decode("utf-8"), Loader=_LOADER)
    except Exception:
        return None


def _dump(data: Any) -> bytes:
    return yaml.dump(
        data, Dumper=_DUMPER, allow_unicode=True, sort_keys=False, width=10**9
    ).encode()


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in ``data`` (mapping keys and list indexes)."""
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        data = data[p]
    return data


def _set(data: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(data, path[:-1])[path[-1]] = value


def _on_data(fn: Callable[[Any, random.Random], Any]) -> Callable[[Doc, random.Random], Doc]:
    def mutate(doc: Doc, rng: random.Random) -> Doc:
        data = _load(doc)
        if not isinstance(data, dict):
            return doc
        data = copy.deepcopy(data)
        data = fn(data, rng)
        return replace(doc, text=_dump(data))

    mutate.__name__ = fn.__name__
    return mutate


WRONG_VALUES: list[Any] = [
    None,
    0,
    -1,
    10**30,
    1e308,
    float("nan"),
    True,
    "",
    "x",
    [],
    {},
    [1, 2],
    {"a": 1},
    [[[]]],
    {"name": 1},
    "..",
    "/",
    "C99.9",
    "999.999.999.999/99",
]

TEMPLATES = [
    "{{ 1/0 }}",
    "{{ 1 // 0 }}",
    "{{ 5 % 0 }}",
    "{{ 10**10**10 }}",
    "{{ 2**100000 }}",
    "{{ 9**9**9 }}",
    "{{ 'a' * 10**9 }}",
    "{{ [1] * 10**8 }}",
    "{{ range(10**9) | list }}",
    "{{ range(10**6) | join(',') }}",
    "{{ 1 + 'a' }}",
    "{{ none.x.y }}",
    "{{ undefined_name }}",
    "{{ [].pop() }}",
    "{{ {}['x'] }}",
    "{{ 1e308 * 1e308 }}",
    "{{ (1e308 * 10) | int }}",
    "{{ 'x' | int(base=99) }}",
    "{{ '%d' % 'x' }}",
    "{{ 'abc'.__class__ }}",
    "{{ lipsum(10**6) }}",
    "{% for i in range(10**8) %}x{% endfor %}",
    "{% for i in range(10**4) %}{% for j in range(10**4) %}x{% endfor %}{% endfor %}",
    "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
    "{% set x = 1 %}{{ x.y.z }}",
    "{% for %}",
    "{{ unclosed",
    "{% if %}{% endif %}",
    "{{ 'x' | nosuchfilter }}",
    "{{ (1, 2) | sum(attribute=3) }}",
    "{{ 10 | round(10**9) }}",
    "{{ '{:>1000000000}'.format(1) }}",
    "{{ '%1000000000d' % 1 }}",
    "{{ 'a'.center(10**9) }}",
    "{{ 'a' | center(10**9) }}",
    "{{ 'a' | indent(10**9) }}",
    "{{ 'a' | wordwrap(0) }}",
    "{{ 'a' | truncate(-5) }}",
    "{{ [1, 'a'] | sort }}",
    "{{ [1, 'a'] | max }}",
    "{{ 'x' | batch(0) | list }}",
    "{{ 'x' | slice(0) | list }}",
    "{{ 7 | filesizeformat(1) }}",
    "{{ 'x' | format(1, 2, 3) }}",
    "{{ dict(a=1) | dictsort(by='x') }}",
    "{{ 'é'.encode('ascii') }}",
    "{{ namespace(x=1).x.y }}",
]


# --- data-level mutations -------------------------------------------------------------------


def delete_key(data: Any, rng: random.Random) -> Any:
    paths = [p for p in _paths(data) if p and isinstance(_get(data, p[:-1]), dict | list)]
    for _ in range(rng.randint(1, 3)):
        if not paths:
            break
        path = rng.choice(paths)
        try:
            parent = _get(data, path[:-1])
            del parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            pass
        paths = [p for p in _paths(data) if p]
    return data


def wrong_type(data: Any, rng: random.Random) -> Any:
    paths = [p for p in _paths(data) if p]
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(paths)
        with contextlib.suppress(KeyError, IndexError, TypeError):
            _set(data, path, copy.deepcopy(rng.choice(WRONG_VALUES)))
        paths = [p for p in _paths(data) if p]
    return data


def huge_string(data: Any, rng: random.Random) -> Any:
    paths = [p for p in _paths(data) if p]
    path = rng.choice(paths)
    size = rng.choice([10**3, 10**4, 10**5, 10**6, 3 * 10**6])
    _set(data, path, rng.choice("aZ{é ") * size)
    return data


def broken_template(data: Any, rng: random.Random) -> Any:
    strings = [p for p in _paths(data) if p and isinstance(_get(data, p), str)]
    for _ in range(rng.randint(1, 3)):
        if not strings:
            break
        path = rng.choice(strings)
        _set(data, path, rng.choice(TEMPLATES))
    if rng.random() < 0.5:
        variables = data.setdefault("variables", {})
        if isinstance(variables, dict):
            variables[f"t{rng.randint(0, 99)}"] = {"template": rng.choice(TEMPLATES)}
    if rng.random() < 0.3:
        checks = data.get("checks")
        if isinstance(checks, list) and checks and isinstance(checks[0], dict):
            rng.choice(checks)["when"] = rng.choice(TEMPLATES).strip("{} ")
    if rng.random() < 0.3:
        data["brief"] = {"text": rng.choice(TEMPLATES) + "\n"}
    return data


def unknown_reference(data: Any, rng: random.Random) -> Any:
    keys = ("target", "targets", "breaks", "depends_on", "network", "grader", "fault", "action")
    paths = [p for p in _paths(data) if p and p[-1] in keys]
    for path in rng.sample(paths, min(len(paths), rng.randint(1, 3))):
        _set(data, path, rng.choice(["nosuch", "pc9", ["nosuch"], "x" * 300, ""]))
    return data


def dependency_cycle(data: Any, rng: random.Random) -> Any:
    checks = data.get("checks")
    if not isinstance(checks, list) or not checks:
        return data
    ids = [c.get("id") for c in checks if isinstance(c, dict)]
    for c in checks:
        if isinstance(c, dict) and ids:
            c["depends_on"] = rng.sample(ids, min(len(ids), rng.randint(1, 2)))
    return data


def _check_template(data: Any) -> dict[str, Any] | None:
    checks = data.get("checks")
    if isinstance(checks, list) and checks and isinstance(checks[0], dict):
        return checks[0]
    return None


def dependency_chain(data: Any, rng: random.Random) -> Any:
    first = _check_template(data)
    if first is None:
        return data
    n = rng.choice([200, 500, 1000, 2000, 5000])
    chain = []
    for i in range(n):
        item = dict(first, id=f"c{i}")
        item["depends_on"] = [f"c{i + 1}"] if i + 1 < n else []
        if rng.random() < 0.1 and i == n - 1:
            item["depends_on"] = ["c0"]
        chain.append(item)
    data["checks"] = chain
    return data


def many_items(data: Any, rng: random.Random) -> Any:
    """Many nodes, checks, faults, networks or users (copies with new names)."""
    n = rng.choice([100, 500, 2000, 10000])
    topo = data.get("topology")
    choices: list[tuple[Any, str]] = [(data, "checks"), (data, "faults"), (data, "setup")]
    if isinstance(topo, dict):
        choices += [(topo, "nodes"), (topo, "networks")]
    directory = data.get("directory")
    if isinstance(directory, dict):
        choices += [(directory, "users"), (directory, "groups")]
    parent, key = rng.choice(choices)
    items = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(items, list) or not items:
        return data
    out = []
    for i in range(n):
        item = copy.deepcopy(items[i % len(items)])
        if isinstance(item, dict):
            for name_key in ("name", "id", "login"):
                if name_key in item:
                    item[name_key] = f"n{i}"
        out.append(item)
    parent[key] = out
    return data


def huge_variables(data: Any, rng: random.Random) -> Any:
    variables = data.get("variables")
    if not isinstance(variables, dict):
        variables = data["variables"] = {}
    kind = rng.choice(["choice", "host", "person", "many", "integer", "secret"])
    if kind == "choice":
        n = rng.choice([50, 1000, 10**5])
        variables["pick"] = {"choice": list(range(n))}
    elif kind == "host":
        variables["addr"] = {
            "host": {
                "network": rng.choice(["lan", "nosuch"]),
                "range": [1, 10 ** rng.randint(3, 9)],
            }
        }
        topo = data.get("topology")
        if isinstance(topo, dict) and isinstance(topo.get("networks"), list) and rng.random() < 0.5:
            topo["networks"].append({"name": "big", "subnet": "10.0.0.0/8"})
            variables["addr"]["host"]["network"] = "big"
    elif kind == "person":
        for i in range(rng.choice([100, 500, 901, 2000])):
            variables[f"p{i}"] = {"person": True}
    elif kind == "many":
        for i in range(rng.choice([1000, 10**4, 10**5])):
            variables[f"v{i}"] = {"value": i}
    elif kind == "integer":
        variables["n"] = {"integer": [-(10**100), 10**100]}
        variables["m"] = {"template": "{{ n ** n }}"}
    else:
        variables["s"] = {"secret": {"length": rng.choice([0, 8, 10**9])}}
    return data


def missing_extends(data: Any, rng: random.Random) -> Any:
    data["extends"] = rng.choice(
        [
            "nope",
            "nope.yaml",
            "../../../../etc/passwd.yaml",
            "/etc/hostname.yaml",
            "x" * 300,
            "x" * 300 + ".yaml",
            "a\0b",
            "a\0b.yaml",
            ".yaml",
            "",
            "../../_topologies/pme.yaml",
            "../../../scenarios/_topologies/pme.yaml",
            "scenario.yaml",
            "/dev/zero.yaml",
            "~/x.yaml",
            12,
            ["pme"],
        ]
    )
    return data


def path_escape(data: Any, rng: random.Random) -> Any:
    target = rng.choice(
        [
            "../../../../etc/passwd",
            "/etc/passwd",
            "../../../../../../../../../../etc/shadow",
            "../compte-verrouille/brief.md.j2",
            "brief.md.j2/../../../../x",
            "a\0b",
            "x" * 5000,
            "",
            ".",
            "/",
            "/dev/zero",
        ]
    )
    kind = rng.choice(["brief", "template", "image"])
    if kind == "brief":
        data["brief"] = {"file": target}
    elif kind == "template":
        data.setdefault("setup", [])
        if isinstance(data["setup"], list):
            node = "pc1"
            topo = data.get("topology")
            if isinstance(topo, dict) and isinstance(topo.get("nodes"), list) and topo["nodes"]:
                first = topo["nodes"][0]
                node = first.get("name", node) if isinstance(first, dict) else node
            data["setup"].append(
                {
                    "action": "linux.file",
                    "target": node,
                    "params": {"path": "/tmp/x", "template": target},
                }
            )
    else:
        topo = data.get("topology")
        if isinstance(topo, dict) and isinstance(topo.get("nodes"), list) and topo["nodes"]:
            node = topo["nodes"][0]
            if isinstance(node, dict):
                node["image"] = target
    return data


def transplant(data: Any, rng: random.Random) -> Any:
    paths = [p for p in _paths(data) if p]
    src, dst = rng.choice(paths), rng.choice(paths)
    if dst[: len(src)] == src or src[: len(dst)] == dst:
        return data
    with contextlib.suppress(KeyError, IndexError, TypeError):
        _set(data, dst, copy.deepcopy(_get(data, src)))
    return data


# --- text-level mutations -------------------------------------------------------------------


def _text_lines(doc: Doc) -> list[bytes]:
    return doc.text.splitlines(keepends=True) or [b"\n"]


def control_chars(doc: Doc, rng: random.Random) -> Doc:
    chars = [bytes([c]) for c in [*range(0, 9), 11, 12, *range(14, 32), 127]]
    chars += ["\x85".encode(), "\ufeff".encode(), "\u2028".encode(), "\ufffe".encode()]
    text = bytearray(doc.text)
    for _ in range(rng.randint(1, 5)):
        pos = rng.randrange(len(text) + 1)
        text[pos:pos] = rng.choice(chars)
    return replace(doc, text=bytes(text))


def non_utf8(doc: Doc, rng: random.Random) -> Doc:
    bad = [b"\xff", b"\xfe", b"\xc3", b"\xe9", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80"]
    if doc.files and rng.random() < 0.4:
        name = rng.choice(sorted(doc.files))
        content = bytearray(doc.files[name])
        content[rng.randrange(len(content) + 1) : 0] = rng.choice(bad)
        return replace(doc, files={**doc.files, name: bytes(content)})
    text = bytearray(doc.text)
    pos = rng.randrange(len(text) + 1)
    text[pos:pos] = rng.choice(bad)
    return replace(doc, text=bytes(text))


def deep_nesting(doc: Doc, rng: random.Random) -> Doc:
    depth = rng.choice([50, 100, 500, 1000, 5000, 50000])
    style = rng.choice(["flow-list", "flow-map", "block"])
    if style == "flow-list":
        value = b"[" * depth + b"]" * depth
    elif style == "flow-map":
        value = b"{a: " * depth + b"1" + b"}" * depth
    else:
        depth = min(depth, 3000)
        value = b"".join(b"\n" + b" " * (i + 1) + b"a:" for i in range(depth)) + b" 1"
    key = rng.choice([b"deep", b"scenario", b"checks", b"variables", b"topology"])
    return replace(doc, text=doc.text + b"\n" + key + b": " + value + b"\n")


def alias_bomb(doc: Doc, rng: random.Random) -> Doc:
    levels = rng.choice([5, 9, 12, 20])
    width = rng.choice([2, 9, 10])
    lines = [b"bomb0: &a0 [lol]"]
    for i in range(1, levels):
        refs = b", ".join(b"*a%d" % (i - 1) for _ in range(width))
        lines.append(b"bomb%d: &a%d [%s]" % (i, i, refs))
    key = rng.choice([b"bomb", b"variables", b"hints"])
    lines.append(key + b"x: *a%d" % (levels - 1))
    if rng.random() < 0.3:  # an alias used as a merge key
        lines.append(b"merged: {<<: *a0}")
    return replace(doc, text=doc.text + b"\n" + b"\n".join(lines) + b"\n")


def duplicate_keys(doc: Doc, rng: random.Random) -> Doc:
    lines = _text_lines(doc)
    keyed = [i for i, ln in enumerate(lines) if b":" in ln and not ln.lstrip().startswith(b"#")]
    if not keyed:
        return doc
    i = rng.choice(keyed)
    lines.insert(i + 1, lines[i])
    return replace(doc, text=b"".join(lines))


def long_line(doc: Doc, rng: random.Random) -> Doc:
    size = rng.choice([10**5, 10**6, 5 * 10**6])
    style = rng.choice([b"plain", b"quoted", b"flow"])
    if style == b"plain":
        value = b"a " * (size // 2)
    elif style == b"quoted":
        value = b'"' + b"a\\n" * (size // 3) + b'"'
    else:
        value = b"[" + b"1, " * (size // 3) + b"1]"
    return replace(doc, text=doc.text + b"\nlong: " + value + b"\n")


def yaml_tags(doc: Doc, rng: random.Random) -> Doc:
    values = [
        b"!!int abc",
        b"!!float x",
        b"!!timestamp 2020-99-99",
        b"!!bool maybe",
        b"!!binary '!!!'",
        b"!!python/object:os.system ls",
        b"!!set {a, b}",
        b"!!omap [a, b]",
        b"!!pairs 5",
        b"!nosuch x",
        b"!!map [1]",
        b"!!seq {a: 1}",
        b"{<<: 5}",
        b"{<<: [1, 2]}",
        b"{[1, 2]: x}",
        b"{{a: 1}: x}",
        b"? [a, [b]]\n  : x",
        b"2001-02-31",
        b"0x_",
        b"&a x",
        b"*nosuch",
    ]
    lines = _text_lines(doc)
    keyed = [i for i, ln in enumerate(lines) if b": " in ln and not ln.rstrip().endswith(b":")] or [
        0
    ]
    i = rng.choice(keyed)
    line = lines[i]
    head = line[: line.index(b": ") + 2] if b": " in line else b"x: "
    lines[i] = head + rng.choice(values) + b"\n"
    return replace(doc, text=b"".join(lines))


def byte_noise(doc: Doc, rng: random.Random) -> Doc:
    text = bytearray(doc.text)
    for _ in range(rng.randint(1, 8)):
        op = rng.random()
        pos = rng.randrange(len(text) + 1)
        if op < 0.3 and text:
            del text[pos : pos + rng.randint(1, 20)]
        elif op < 0.6:
            text[pos:pos] = bytes([rng.choice(b"{}[]:-&*!|>'\"#%@` \n\t,?")])
        else:
            text = text[: rng.randrange(len(text) + 1)]
    return replace(doc, text=bytes(text))


DATA_MUTATIONS: dict[str, Callable[[Doc, random.Random], Doc]] = {
    f.__name__: _on_data(f)
    for f in (
        delete_key,
        wrong_type,
        huge_string,
        broken_template,
        unknown_reference,
        dependency_cycle,
        dependency_chain,
        many_items,
        huge_variables,
        missing_extends,
        path_escape,
        transplant,
    )
}
TEXT_MUTATIONS: dict[str, Callable[[Doc, random.Random], Doc]] = {
    f.__name__: f
    for f in (
        control_chars,
        non_utf8,
        deep_nesting,
        alias_bomb,
        duplicate_keys,
        long_line,
        yaml_tags,
        byte_noise,
    )
}
MUTATIONS = {**DATA_MUTATIONS, **TEXT_MUTATIONS}


def mutate(doc: Doc, rng: random.Random, count: int | None = None) -> Doc:
    """Apply 1 to 3 mutations (data-level first, so text damage is not undone by a re-dump)."""
    count = count or rng.choice([1, 1, 1, 2, 3])
    names = sorted(rng.choice(list(MUTATIONS)) for _ in range(count))
    names.sort(key=lambda n: n in TEXT_MUTATIONS)
    for name in names:
        doc = MUTATIONS[name](doc, rng)
        doc = replace(doc, kinds=(*doc.kinds, name))
    return doc


def make(seed: int, index: int, bases: list[Doc] | None = None) -> Doc:
    """Document number ``index`` of the run seeded ``seed``: the same pair gives the same doc."""
    rng = random.Random(f"{seed}:{index}")
    base = rng.choice(bases or shipped())
    return mutate(base, rng)
