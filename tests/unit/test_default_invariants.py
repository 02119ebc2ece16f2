"""Default invariants: the loader expands the scenario's ``invariants:`` section into invariant
checks for the directory objects and fixed addresses the scenario's own work does not name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tai_labs.lab.plan import scenario_nic
from tai_labs.scenario import invariants
from tai_labs.scenario.diagnostics import ScenarioError
from tai_labs.scenario.loader import load_scenario
from tai_labs.scenario.model import CheckUse

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "errors"
CATALOGUE = Path(__file__).resolve().parents[2] / "scenarios"

DIRECTORY = """
directory:
  ous: [Siege, Siege/Groupes]
  groups:
    - {name: Direction, ou: Siege/Groupes}
    - {name: Compta Fournisseurs, scope: domainlocal}
    - {name: Touched}
  users:
    - {login: jdupont, first: Jean, last: Dupont, password: Initial-123}
    - {login: a.martin, first: Anne, last: Martin, ou: Siege, groups: [Direction],
       password: Initial-456}
"""


def _case(tmp_path: Path, extra: str = "", invariants_block: str | None = None) -> Path:
    """The golden ``valid`` scenario (jdupont unlocked), its topology with defaults on."""
    case = tmp_path / "case"
    shutil.copytree(GOLDEN / "valid", case)
    shutil.copytree(GOLDEN / "_topologies", tmp_path / "_topologies")
    mini = tmp_path / "_topologies" / "mini.yaml"
    mini.write_text(mini.read_text().split("# The tests built on this topology")[0])
    file = case / "scenario.yaml"
    text = file.read_text() + extra + DIRECTORY  # the file ends in its solution
    if invariants_block is not None:
        text += invariants_block
    file.write_text(text)
    return file


def _defaults(file: Path) -> dict[str, CheckUse]:
    checks = load_scenario(file).scenario.checks
    return {c.id: c for c in checks if c.id.startswith(invariants.PREFIX)}


def test_untouched_objects_and_addresses_become_invariants_under_g2(tmp_path: Path) -> None:
    found = _defaults(_case(tmp_path))
    # jdupont is the scenario's own (its check, fault and solution name him): no default.
    assert sorted(found) == [
        "keep-address-dc1-eth1",
        "keep-address-pc1-eth1",
        "keep-domain-policy",
        "keep-group-compta-fournisseurs",
        "keep-group-direction",
        "keep-group-touched",
        "keep-services-dc1",
        "keep-services-pc1",
        "keep-user-a-martin",
    ]
    user = load_scenario(_case(tmp_path / "again")).scenario
    by_id = {c.id: c for c in user.checks}
    martin = by_id["keep-user-a-martin"]
    assert (martin.grader, martin.target, martin.criterion, martin.competence) == (
        "ad.user",
        "dc1",
        "G.2",
        "C6",
    )
    assert martin.invariant and martin.points == 1
    assert martin.params == {
        "login": "a.martin",
        "enabled": True,
        "member_of": ["Direction"],
        "password": "Initial-456",
        "ou": "Siege",
    }
    direction = by_id["keep-group-direction"]
    assert direction.grader == "ad.group"
    assert direction.params == {"group": "Direction", "scope": "global", "ou": "Siege/Groupes"}
    address = by_id["keep-address-pc1-eth1"]
    assert (address.grader, address.target, address.params) == (
        "linux.address",
        "pc1",
        {"interface": "eth1", "address": "10.1.0.50/24"},
    )
    # Graded like the author's invariants: they cost, they earn nothing.
    assert user.total_points == 2
    assert {user.expected_at_start(c) for c in by_id.values() if c.id.startswith("keep-")} == {
        "pass"
    }


def test_what_the_scenario_names_is_left_to_it(tmp_path: Path) -> None:
    extra = """
  alternatives:
    - name: touch
      steps:
        - action: linux.exec
          target: dc1
          params: {argv: [samba-tool, group, addmembers, Touched, jdupont]}
        - action: linux.exec
          target: pc1
          params: {argv: [ip, addr, flush, dev, eth1]}
  wrong:
    - name: collateral
      steps:
        - action: linux.exec
          target: dc1
          params: {argv: [samba-tool, group, delete, Direction]}
      must_fail: [keep-group-direction]
"""
    found = _defaults(_case(tmp_path, extra))
    # An alternative (a valid fix) names Touched and pc1's eth1; a wrong solution names
    # Direction, which stays an invariant: it is what the wrong solution must break.
    assert "keep-group-touched" not in found
    assert "keep-address-pc1-eth1" not in found
    assert "keep-group-direction" in found and "keep-address-dc1-eth1" in found


def test_a_name_counts_as_a_whole_word_only() -> None:
    assert invariants._mentions("OU=Direction,DC=test", "direction")
    assert not invariants._mentions("Directions", "Direction")
    assert not invariants._mentions("10.1.0.100/24", "10.1.0.10")
    assert invariants._mentions("10.1.0.10/24", "10.1.0.10")


def test_a_family_turned_off_says_why(tmp_path: Path) -> None:
    off = "invariants: {addresses: false}\n"
    with pytest.raises(ScenarioError, match="why_off"):
        load_scenario(_case(tmp_path, invariants_block=off))
    said = "invariants: {addresses: false, why_off: the candidate renumbers the network}\n"
    found = _defaults(_case(tmp_path / "said", invariants_block=said))
    assert found and not [i for i in found if i.startswith("keep-address")]


def test_points_and_criterion_can_be_set(tmp_path: Path) -> None:
    block = "invariants: {points: 2, criterion: C6.1}\n"
    checks = _defaults(_case(tmp_path, invariants_block=block)).values()
    assert {(c.points, c.criterion, c.competence) for c in checks} == {(2, "C6.1", None)}


def test_interface_names_match_the_lab_plan() -> None:
    assert [invariants.nic_name(i) for i in range(3)] == [scenario_nic(i) for i in range(3)]


def test_catalogue_directory_scenarios_keep_their_untouched_groups() -> None:
    s = load_scenario(CATALOGUE / "ccp2" / "compte-verrouille").scenario
    ids = {c.id for c in s.checks if c.invariant}
    # Comptabilite is the call's group (a fault and a check name it): the scenario's own.
    assert {"keep-group-direction", "keep-group-commercial"} <= ids
    assert "keep-group-comptabilite" not in ids


def test_the_domain_policy_is_kept_unless_the_scenario_is_about_it(tmp_path: Path) -> None:
    found = _defaults(_case(tmp_path))
    policy = found["keep-domain-policy"]
    assert (policy.grader, policy.target, policy.invariant) == ("ad.domain_policy", "dc1", True)
    about = """
  alternatives:
    - name: policy
      steps:
        - action: linux.exec
          target: dc1
          params: {argv: [samba-tool, domain, passwordsettings, set, --min-pwd-length=8]}
"""
    assert "keep-domain-policy" not in _defaults(_case(tmp_path / "about", about))


def test_a_directory_stopped_by_a_fault_holds_no_invariant() -> None:
    """incident-centre-services draws a stopped samba-ad-dc for some candidates: no directory
    to read at exam start, so no directory or policy invariant there (selftest: they would
    be errors at exam start); the other variant keeps them."""
    kept: dict[str, set[str]] = {}
    for seed in range(40):
        loaded = load_scenario(CATALOGUE / "ccp3" / "incident-centre-services", seed=seed)
        ids = {c.id for c in loaded.scenario.checks if c.invariant}
        kept.setdefault(str(loaded.variables["incident"]), ids)
        if len(kept) == 2:
            break
    assert set(kept) == {"print", "directory"}
    directory_ids = {i for i in kept["print"] if i.startswith(("keep-group", "keep-user"))}
    assert directory_ids and "keep-domain-policy" in kept["print"]
    assert not kept["directory"] & (directory_ids | {"keep-domain-policy"})
    assert "keep-address-dc1-eth1" in kept["directory"]  # the node itself is still there
    assert invariants._unit_name(" Samba-AD-DC.service") in invariants.DIRECTORY_UNITS


def test_each_container_node_keeps_its_services_with_the_words_the_work_uses(
    tmp_path: Path,
) -> None:
    extra = """
  alternatives:
    - name: restart
      steps:
        - action: linux.exec
          target: pc1
          params: {argv: [systemctl, restart, cups-browsed.service, --now]}
"""
    found = _defaults(_case(tmp_path, extra))
    services = {i: c for i, c in found.items() if c.grader == invariants.SERVICES_CHECK}
    assert sorted(services) == ["keep-services-dc1", "keep-services-pc1"]
    pc1 = services["keep-services-pc1"]
    assert (pc1.target, pc1.invariant, pc1.criterion) == ("pc1", True, "G.2")
    # One check per node, the same words for all (the units are only known at exam start):
    # every name-like word of the checks, faults and solutions, options and numbers left out.
    words = pc1.params["words"]
    assert words == services["keep-services-dc1"].params["words"]
    assert {"systemctl", "restart", "cups-browsed.service", "jdupont"} <= set(words)
    assert "--now" not in words and "now" not in words and words == sorted(set(words))


def test_a_vm_node_or_a_switch_gets_no_services_invariant(tmp_path: Path) -> None:
    file = _case(tmp_path)
    mini = tmp_path / "_topologies" / "mini.yaml"
    mini.write_text(
        mini.read_text().replace("kind: linux-client\n", "kind: linux-client\n      engine: vm\n")
    )
    found = _defaults(file)
    assert [i for i in found if i.startswith("keep-services")] == ["keep-services-dc1"]


def test_the_services_family_can_be_turned_off_saying_why(tmp_path: Path) -> None:
    said = "invariants: {services: false, why_off: the call is about stopping services}\n"
    found = _defaults(_case(tmp_path, invariants_block=said))
    assert found and not [i for i in found if i.startswith("keep-services")]
    unsaid = "invariants: {services: false}\n"
    with pytest.raises(ScenarioError, match="why_off"):
        load_scenario(_case(tmp_path / "unsaid", invariants_block=unsaid))


def test_a_unit_is_named_by_a_word_as_the_invariants_read_names() -> None:
    from graders.linux_services import named_by

    words = ["cups", "/etc/cron.d/x", "samba-tool", "getty"]
    assert named_by("cups.service", words) and named_by("cups.service", ["cups.service"])
    assert not named_by("cups-browsed.service", words)  # "cups" does not name it
    assert named_by("cron.service", ["cron.d"])  # read generously, as _mentions reads
    assert named_by("getty@tty1.service", words)
    assert not named_by("samba-ad-dc.service", words)
    assert not named_by("ssh.service", ["sshd_config.d", "openssh"])
    assert not named_by("cupsd.service", ["cups"])
