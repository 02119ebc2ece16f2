"""The command line, run as a user runs it (a subprocess), for output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "errors"


def tai(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tai_labs", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_help_teaches_the_first_commands() -> None:
    out = tai("--help")
    assert out.returncode == 0
    for word in ("list", "show", "validate", "doctor", "schema"):
        assert word in out.stdout


def test_validate_exit_codes() -> None:
    assert tai("validate").returncode == 0
    broken = tai("validate", str(GOLDEN / "unknown-fault"), cwd=GOLDEN)
    assert broken.returncode == 1
    assert broken.stdout.startswith("unknown-fault/scenario.yaml:25: faults[0].fault: unknown")
    missing = tai("validate", "/no/such/path")
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr
    assert tai("validate", "--format", "yaml").returncode == 2


def test_validate_json_and_junit() -> None:
    out = tai("validate", "--format", "json", str(GOLDEN / "valid"), str(GOLDEN / "wrong-type"))
    assert out.returncode == 1
    data = json.loads(out.stdout)
    assert [r["valid"] for r in data] == [True, False]
    assert data[1]["problems"][0]["key"] == "checks[0].points"
    assert data[1]["problems"][0]["line"] == 21
    junit = ET.fromstring(tai("validate", "--format", "junit").stdout)
    assert junit.get("failures") == "0" and int(junit.get("tests", "0")) >= 3


def test_list_json_says_why_a_scenario_cannot_run_yet() -> None:
    rows = json.loads(tai("list", "--json").stdout)
    assert {r["block"] for r in rows} == {"CCP1", "CCP2", "CCP3"}
    for row in rows:
        assert row["valid"]
        assert row["runnable"] == (not row["blockers"])
    assert json.loads(tai("list", "--json", "--competence", "C6").stdout)[0]["competences"] == [
        "C6"
    ]


def test_list_rejects_unknown_filters() -> None:
    out = tai("list", "--block", "CCP7")
    assert out.returncode == 2 and "unknown block" in out.stderr


def test_coverage_lists_every_competence() -> None:
    cover = json.loads(tai("list", "--coverage", "--json").stdout)
    assert [c["competence"] for c in cover] == [f"C{i}" for i in range(1, 12)]
    assert any(c["scenarios"] for c in cover)


def test_show_renders_for_a_candidate() -> None:
    a = json.loads(tai("show", "compte-verrouille", "--json", "--candidate", "a").stdout)
    b = json.loads(tai("show", "compte-verrouille", "--json", "--candidate", "b").stdout)
    assert a["scenario"]["id"] == "compte-verrouille"
    assert a["variables"]["user"] != b["variables"]["user"]
    assert a["variables"]["user"]["login"] in a["brief_text"]
    out = tai("show", "compte-verouille")
    assert out.returncode == 2 and "did you mean compte-verrouille" in out.stderr


def test_schema_accepts_every_shipped_scenario() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    from tai_labs.scenario.catalog import iter_scenario_files

    schema = json.loads(tai("schema").stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in iter_scenario_files():
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, (path, errors[0].message)
    # ...and is not vacuous: a misspelt key and a wrong type are caught in the editor too.
    for case in ("unknown-key", "wrong-type"):
        broken = yaml.safe_load((GOLDEN / case / "scenario.yaml").read_text())
        assert list(validator.iter_errors(broken)), case
    # The copy shipped for editors is the current one.
    shipped = Path(__file__).resolve().parents[2] / "docs" / "scenario.schema.json"
    assert json.loads(shipped.read_text()) == schema, (
        "run: tai-labs schema -o docs/scenario.schema.json"
    )


def test_catalog_lists_plugins_with_params() -> None:
    items = json.loads(tai("catalog", "faults", "--json").stdout)
    locked = next(i for i in items if i["name"] == "ad.account_locked")
    assert locked["params"]["login"]["required"] is True
    assert locked["symptom"]


@pytest.mark.parametrize("kind", ["checks", "faults", "actions"])
def test_catalog_json_is_byte_identical(kind: str) -> None:
    """Recorded before the rows became typed (reports.catalogue): the JSON must not move.
    A new or changed plugin refreshes the file: tai-labs catalog KIND --json > it."""
    expected = (GOLDEN.parent / "cli" / f"catalog-{kind}.json").read_text(encoding="utf-8")
    assert tai("catalog", kind, "--json").stdout == expected


def test_selftest_json_row_keeps_its_shape() -> None:
    from tai_labs.lab.selftest import Phase, SelftestResult

    result = SelftestResult("s", {"v": 1}, 3, "abc123", [Phase("up", True, "lab abc123", 1.5)], 9.0)
    assert json.dumps(result.to_dict()) == json.dumps(
        {
            "scenario": "s",
            "variant": {"v": 1},
            "seed": 3,
            "ok": True,
            "seconds": 9.0,
            "phases": [{"name": "up", "ok": True, "detail": "lab abc123", "seconds": 1.5}],
        }
    )


def test_selftest_parallel_below_one_is_a_usage_error() -> None:
    out = tai("selftest", "--parallel", "0", "securiser-poste")
    assert out.returncode == 2 and "--parallel" in out.stderr


def test_doctor_json_has_a_fix_for_every_problem() -> None:
    out = tai("doctor", "--json")
    rows = json.loads(out.stdout)
    assert {r["name"] for r in rows} >= {"root", "lxc", "libvirtd", "kvm", "disk"}
    for row in rows:
        assert row["status"] in ("ok", "warn", "fail")
        assert bool(row["fix"]) == (row["status"] != "ok")
    assert out.returncode == (1 if any(r["status"] == "fail" for r in rows) else 0)


def test_scenario_pages_are_current(tmp_path: Path) -> None:
    out = tai("docs", "--output", str(tmp_path))
    assert out.returncode == 0
    shipped = Path(__file__).resolve().parents[2] / "docs" / "scenarios"
    generated = {p.name: p.read_text() for p in tmp_path.glob("*.md")}
    assert generated, "no page generated"
    assert generated == {p.name: p.read_text() for p in shipped.glob("*.md")}, "run: tai-labs docs"
    page = generated["partage-compta-inaccessible.md"]
    assert "C11.2" in page and "linux.dns_resolver" in page and "## Laissé au jury" in page
