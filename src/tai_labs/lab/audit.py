"""The change audit of a lab: record its state at exam start, then list what changed.

Evidence comes from where the candidate cannot forge it:

- files: the host compares the node's writable layer kept by the exam-start snapshot with
  the current one, reading both on its own disk (``providers.overlay_diff``); packages and
  services are read from the same two trees (dpkg's status file, systemd's links);
- directory: the DC's ``highestCommittedUSN`` and every object of the domain, recorded at
  exam start over the pinned LDAPS session, then the objects whose ``uSNChanged`` is past it
  (tombstones included, with the show-deleted control), compared attribute by attribute.

The baseline file is the host's record, owner-only in the lab's folder like the identities.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from tai_labs.errors import TaiLabsError
from tai_labs.grading.audit import (
    PACKAGE_FILES,
    ChangeAudit,
    DirectoryAudit,
    DirectoryBaseline,
    FileChangeRow,
    NodeAudit,
    baseline_object,
    check_paths,
    command_paths,
    directory_changes,
    expands,
    fold_package_files,
    group_files,
    is_expected,
    mark_services,
    noise_label,
    package_changes,
    package_list_file,
    running_changes,
    service_changes,
)
from tai_labs.grading.identity import Identities
from tai_labs.kinds import kinds_offering
from tai_labs.lab.plan import NodePlan
from tai_labs.lab.runtime import Lab
from tai_labs.private_files import write_private
from tai_labs.providers import naming
from tai_labs.providers.cgroups import running_services
from tai_labs.providers.overlay_diff import diff_layers
from tai_labs.providers.rootfs import OverlayTree
from tai_labs.scenario.model import Step
from tai_labs.sessions.base import DirectorySession, SessionError

#: The snapshot the audit compares with: ``lifecycle.EXAM_START`` (a unit test keeps them
#: equal; lifecycle imports this module, not the other way round).
SNAPSHOT = "exam-start"
AUDIT_BASELINE_FILE = "audit-baseline.json"
#: Time and size bounds of one node's file walk.
NODE_SECONDS = 30.0
MAX_FILE_CHANGES = 2000
MAX_DIRECTORY_CHANGES = 500
#: Longest dpkg status file read (a full desktop's is a few MiB).
DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_LIMIT = 64 * 1024 * 1024
#: At most this many changed packages have their file lists read (to fold their files).
MAX_PACKAGE_LISTS = 200
#: Kinds whose running configuration lives in memory, besides their files.
_DEVICE_KINDS = kinds_offering("device")


class AuditBaseline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recorded: datetime = Field(default_factory=lambda: datetime.now(UTC))
    directory: list[DirectoryBaseline] = []
    #: DCs whose directory could not be read at exam start, with the reason.
    unrecorded: dict[str, str] = {}
    #: Per container node, the services that had a process at exam start (host's cgroups).
    running: dict[str, list[str]] = {}


def _dc_nodes(lab: Lab) -> list[NodePlan]:
    return [n for n in lab.plan.nodes if n.kind in kinds_offering("directory")]


def record_audit_baseline(lab: Lab, on_unrecorded: Callable[[str, str], None]) -> AuditBaseline:
    """Record each DC's USN and objects now (at exam start) in the lab's folder."""
    baseline = AuditBaseline()
    for node in lab.plan.nodes:
        running = _running(lab, node)
        if running is not None:
            baseline.running[node.name] = sorted(running)
    with lab.sessions:
        for node in _dc_nodes(lab):
            try:
                baseline.directory.append(
                    _read_directory(node.name, lab.sessions.get(node.name, "directory"))
                )
            except SessionError as exc:
                baseline.unrecorded[node.name] = exc.message
                on_unrecorded(node.name, exc.message)
    write_private(lab.folder / AUDIT_BASELINE_FILE, baseline.model_dump_json() + "\n")
    return baseline


def _running(lab: Lab, node: NodePlan) -> set[str] | None:
    if node.engine != "container":
        return None
    try:
        return running_services(naming.cgroup_container_dir(lab.id, node.resource))
    except OSError:
        return None  # stopping while we read


def _usn(session: DirectorySession) -> int:
    root = session.search("", "(objectClass=*)", ["highestCommittedUSN"], scope="base")
    value = root[0].first("highestcommittedusn") if root else None
    if value is None or not value.isdigit():
        raise SessionError("the DC's root DSE gives no highestCommittedUSN")
    return int(value)


def _read_directory(node: str, session: DirectorySession) -> DirectoryBaseline:
    usn = _usn(session)  # first: an object changed while we read is then past it
    objects = {}
    for entry in session.search(session.base_dn, "(objectClass=*)", ["*"], timeout=60.0):
        guid = entry.first("objectguid")
        if guid:
            objects[guid] = baseline_object(entry)
    return DirectoryBaseline(node=node, usn=usn, objects=objects)


def lab_audit_baseline(lab: Lab) -> AuditBaseline | None:
    """The lab's exam-start baseline; None for a lab brought up before it was recorded."""
    return lab.read_record(AUDIT_BASELINE_FILE, AuditBaseline, "the exam-start audit baseline")


# -- auditing ----------------------------------------------------------------------------------


def audit_lab(
    lab: Lab,
    identities: Identities | None = None,
    evidence: Iterable[tuple[str, str]] = (),
) -> ChangeAudit:
    """What changed in the lab since exam start (the lab's sessions must be open).

    ``evidence``: (node, command) of the grade's evidence; the files it read are expected
    changes, as are the paths the checks and the reference solutions name."""
    started = time.monotonic()
    baseline = lab_audit_baseline(lab)
    read = command_paths(evidence)

    def one(node: NodePlan) -> NodeAudit:
        return _node_or_error(lab, node, baseline, read.get(node.name, set()))

    with ThreadPoolExecutor(max_workers=max(1, len(lab.plan.nodes))) as pool:
        nodes = list(pool.map(one, lab.plan.nodes))
    directory = [_directory_or_error(lab, node, baseline, identities) for node in _dc_nodes(lab)]
    return ChangeAudit(
        baseline=baseline.recorded if baseline else None,
        nodes=nodes,
        directory=directory,
        seconds=round(time.monotonic() - started, 3),
    )


# The audit informs the jury: whatever a node holds, it never breaks the grade it is part of.


def _node_or_error(
    lab: Lab, node: NodePlan, baseline: AuditBaseline | None, read: set[str]
) -> NodeAudit:
    try:
        return audit_node(lab, node, baseline, read)
    except Exception as exc:  # reported in the audit, see above
        return NodeAudit(node=node.name, audited=False, reason=f"erreur de lecture : {exc!r}")


def _directory_or_error(
    lab: Lab, node: NodePlan, baseline: AuditBaseline | None, identities: Identities | None
) -> DirectoryAudit:
    try:
        return audit_directory(lab, node, baseline, identities)
    except Exception as exc:  # reported in the audit, see above
        return DirectoryAudit(node=node.name, audited=False, reason=f"erreur : {exc!r}")


def _solution_steps(lab: Lab) -> list[Step]:
    """The steps of the reference and alternative solutions (not the wrong ones)."""
    solution = lab.loaded.scenario.solution
    return [*solution.steps, *(s for alt in solution.alternatives for s in alt.steps)]


def _expected_paths(lab: Lab, node: str) -> set[str]:
    """Paths the checks on ``node`` name, and those its solutions' steps write."""
    paths: set[str] = set()
    for check in lab.loaded.scenario.checks:
        if node in check.targets:
            paths |= check_paths(check.params)
    for step in _solution_steps(lab):
        if step.target == node:
            paths |= check_paths(step.params)
    return paths


def audit_node(
    lab: Lab,
    node: NodePlan,
    baseline: AuditBaseline | None = None,
    read: set[str] | None = None,
) -> NodeAudit:
    """``read``: the files the grade's evidence read on the node (expected changes)."""
    started = time.monotonic()
    if node.engine != "container":
        return NodeAudit(
            node=node.name,
            audited=False,
            reason="machine virtuelle : son disque appartient au système invité, que l'hôte "
            "ne compare pas à l'instantané du début d'épreuve",
        )
    try:
        pair = lab.engine.snapshot_layers(node.resource, SNAPSHOT)
    except TaiLabsError as exc:
        pair = exc.message
    if isinstance(pair, str):
        return NodeAudit(
            node=node.name, audited=False, reason=f"non lisible depuis l'hôte ({pair})"
        )
    diff = diff_layers(
        pair,
        skip=noise_label,
        expand=expands,
        max_changes=MAX_FILE_CHANGES,
        deadline=started + NODE_SECONDS,
    )
    expected = _expected_paths(lab, node.name)
    rows = [
        FileChangeRow(
            path=c.path,
            change=c.change,
            kind=c.kind,
            detail=c.detail,
            entries=c.entries,
            target=c.target,
            expected=is_expected(c.path, expected, read or set()),
        )
        for c in diff.changes
    ]
    services, files = service_changes(rows)
    running = _running(lab, node)
    if baseline is not None and node.name in baseline.running and running is not None:
        services += running_changes(baseline.running[node.name], running)
    services = mark_services(services, _names_for(lab, node.name))
    old, new = pair.trees()
    packages = package_changes(_read(old, DPKG_STATUS), _read(new, DPKG_STATUS))
    lists = [
        _read(old if p.change == "removed" else new, package_list_file(p.name))
        for p in packages[:MAX_PACKAGE_LISTS]
    ]
    files, folded = fold_package_files(files, lists)
    filtered = dict(diff.filtered)
    if folded:
        filtered[PACKAGE_FILES] = folded
    note = ""
    if node.kind in _DEVICE_KINDS:
        note = "configuration active en mémoire non auditée (seuls ses fichiers le sont)"
    return NodeAudit(
        node=node.name,
        audited=True,
        note=note,
        files=group_files(files),
        file_count=len(files),
        filtered=filtered,
        packages=packages,
        services=services,
        truncated="; ".join(
            _truncated_fr(r) for r in filter(None, [diff.truncated, *diff.skipped])
        ),
        unverified=diff.unverified,
        seconds=round(time.monotonic() - started, 3),
    )


#: The walk's reasons for stopping or skipping (providers.overlay_diff), for the jury.
_TRUNCATED_FR = (
    (re.compile(r"more than (\d+) changes"), "parcours arrêté après {0} modifications"),
    (re.compile(r"time limit reached after (\d+) paths"), "temps limite atteint après {0} chemins"),
    (
        re.compile(r"(.*): folders nested deeper than (\d+)"),
        "{0} non parcouru (plus de {1} niveaux)",
    ),
    (re.compile(r"(.*): more than (\d+) names"), "{0} non parcouru (plus de {1} entrées)"),
)


def _truncated_fr(reason: str) -> str:
    for pattern, french in _TRUNCATED_FR:
        found = pattern.fullmatch(reason)
        if found:
            return french.format(*found.groups())
    return f"parcours incomplet ({reason})"


def _read(tree: OverlayTree, path: str) -> str:
    """A dpkg file of the node, read by the host; empty when absent (no dpkg there)."""
    try:
        return tree.read(path, DPKG_LIMIT).decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return ""


def audit_directory(
    lab: Lab, node: NodePlan, baseline: AuditBaseline | None, identities: Identities | None
) -> DirectoryAudit:
    recorded = next(
        (d for d in (baseline.directory if baseline else []) if d.node == node.name), None
    )
    if recorded is None:
        why = (baseline.unrecorded.get(node.name) if baseline else None) or (
            "aucun état de l'annuaire enregistré au début de l'épreuve (lab plus ancien)"
        )
        return DirectoryAudit(node=node.name, audited=False, reason=why)
    names = _names_for(lab, node.name)
    guids: set[str] = set()
    # The candidate's targets are what the checks to earn are about; an invariant's objects
    # (the default ones: every group no check names) are what must not change, not targets.
    kept = {c.id for c in lab.loaded.scenario.checks if c.invariant}
    for check, by_node in (identities.checks if identities else {}).items():
        if check in kept:
            continue
        for found in by_node.values():
            guids |= set(found.values())
    try:
        session: DirectorySession = lab.sessions.get(node.name, "directory")
        since = f"(uSNChanged>={recorded.usn + 1})"
        changed = session.search(session.base_dn, since, ["*"], timeout=60.0)
        deleted = session.search_deleted(
            session.base_dn, f"(&(isDeleted=TRUE){since})", ["objectGUID"], timeout=60.0
        )
    except SessionError as exc:
        return DirectoryAudit(
            node=node.name, audited=False, since_usn=recorded.usn, reason=exc.message
        )
    live = [e for e in changed if (e.first("isdeleted") or "").upper() != "TRUE"]
    changes = directory_changes(
        recorded,
        live,
        deleted,
        expected_guids=frozenset(guids),
        expected_names=frozenset(names),
    )
    truncated = ""
    if len(changes) > MAX_DIRECTORY_CHANGES:
        truncated = (
            f"{len(changes)} objets : seuls les {MAX_DIRECTORY_CHANGES} premiers sont listés"
        )
        changes = changes[:MAX_DIRECTORY_CHANGES]
    return DirectoryAudit(
        node=node.name,
        audited=True,
        since_usn=recorded.usn,
        changes=changes,
        truncated=truncated,
    )


def _names_for(lab: Lab, node: str) -> set[str]:
    """Every plain string the checks to earn and solution steps on ``node`` name (not the
    invariants': what they name must not change, it is no target of the candidate's)."""
    names: set[str] = set()
    for step in _solution_steps(lab):
        if step.target == node:
            names |= _strings(step.params)
    for check in lab.loaded.scenario.checks:
        if node in check.targets and not check.invariant:
            names |= _strings(check.params)
    return names


def _strings(params: object) -> set[str]:
    """Every plain string among a check's parameter values (names of accounts, groups)."""
    if isinstance(params, str):
        return {params} if params and "\n" not in params else set()
    if isinstance(params, dict):
        return set().union(*(_strings(v) for v in params.values())) if params else set()
    if isinstance(params, (list, tuple)):
        return set().union(*(_strings(v) for v in params)) if params else set()
    return set()
