"""Property tests of the loader: whatever the document, a clean answer within the bound.

Documents are either generated (random YAML values under the scenario's keys) or mutated
copies of the shipped scenarios (tests/fuzz/mutations.py, the fuzzer's own mutations). The
loader may only return diagnostics; any exception, and any run past ``BOUND``, fails.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tai_labs.scenario.loader import validate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))
import mutations

BOUND = 10.0  # seconds: the 2 s is for an idle machine; unit tests share a loaded one
BASES = mutations.shipped()
KEYS = ["format", "extends", "scenario", "variables", "topology", "directory", "setup",
        "faults", "brief", "hints", "checks", "solution", "id", "name", "when", "file",
        "template", "choice", "host", "range", "depends_on", "target", "params"]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["{{ 1/0 }}", "{{ x }}", "{% for %}", "../../etc/passwd", "mini", "C6.4"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=4),
    ),
    max_leaves=30,
)


def check(doc: mutations.Doc) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        mutations.write_topologies(root)
        file = doc.write(root)
        start = time.monotonic()
        diagnostics = validate(file)  # any exception fails the property
        elapsed = time.monotonic() - start
        for d in diagnostics:
            d.format()
        assert elapsed < BOUND, f"{elapsed:.1f} s for {doc.kinds}"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), index=st.integers(0, 10**6))
def test_mutated_scenarios_get_a_clean_answer(seed: int, index: int) -> None:
    check(mutations.make(seed, index, BASES))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(BASES), section=st.sampled_from(KEYS), value=values)
def test_generated_values_get_a_clean_answer(base: mutations.Doc, section: str, value: Any) -> None:
    data = yaml.safe_load(base.text.decode())
    data[section] = value
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()
    check(mutations.Doc(base.block, base.name, text, base.files))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(BASES), junk=st.binary(max_size=200), at=st.floats(0, 1))
def test_arbitrary_bytes_get_a_clean_answer(base: mutations.Doc, junk: bytes, at: float) -> None:
    pos = int(len(base.text) * at)
    check(
        mutations.Doc(base.block, base.name, base.text[:pos] + junk + base.text[pos:], base.files)
    )
