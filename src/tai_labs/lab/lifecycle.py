"""`up`, `down` and `gc`: the lab's life, as a list of idempotent steps.

Like Molecule's sequences, the lifecycle is data (``UP_STEPS``); the store records each step
as it finishes, so an interrupted `up` resumes where it stopped, and every step can be run
again safely (it checks what exists before creating). `down` needs no state at all: every
host resource carries the lab id in its name.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tai_labs.actions.base import run_step
from tai_labs.errors import TaiLabsError
from tai_labs.lab.audit import record_audit_baseline
from tai_labs.lab.grading import record_lab_identities
from tai_labs.lab.plan import NodePlan
from tai_labs.lab.readiness import up_blockers
from tai_labs.lab.runtime import Lab, lab_folder, open_lab, render_for_lab
from tai_labs.lab.secrets import LabSecrets
from tai_labs.lab.store import LabBusyError, NodeRecord, Store, lab_lock
from tai_labs.locations import locations
from tai_labs.private_files import write_private
from tai_labs.roles.registry import role_named

if TYPE_CHECKING:
    from tai_labs.images.builder import ImageBuilder
    from tai_labs.providers.base import VmBoot
    from tai_labs.providers.network import LabNetwork


@dataclass(frozen=True)
class Event:
    """Something the user should see while a long command runs."""

    step: str
    message: str
    node: str | None = None


Reporter = Callable[[Event], None]


def _quiet(_: Event) -> None:
    pass


def _parallel(items: Sequence[NodePlan], work: Callable[[NodePlan], None]) -> None:
    """Run ``work`` on every node at once; raise the first failure after all have finished."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        futures = [pool.submit(work, item) for item in items]
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error


# -- steps -------------------------------------------------------------------------------------


def step_images(lab: Lab, report: Reporter) -> None:
    from tai_labs.images.builder import ImageBuilder
    from tai_labs.images.disk import find_disk_image
    from tai_labs.images.vm import build_vm_image

    builder = ImageBuilder()
    for name in sorted({n.image for n in lab.plan.nodes if find_disk_image(n.image) is None}):
        report(Event("images", f"image {name}"))
        builder.build(name, progress=lambda p: report(Event("images", _image_line(p))))
    # An engine that boots a disk gets the recipe's VM image, made from the built tree.
    for name in sorted({n.image for n in lab.plan.nodes if n.image_form == "disk"}):
        if find_disk_image(name) is not None:
            continue  # imported or Windows: nothing to build
        report(Event("images", f"VM image {name}"))
        build_vm_image(name, builder, progress=lambda p: report(Event("images", _image_line(p))))


def _image_line(progress: object) -> str:
    pct = getattr(progress, "percent", None)
    step = getattr(progress, "step", "")
    image = getattr(progress, "image", "")
    return f"image {image}: {step} {pct:.0f}%" if pct is not None else f"image {image}: {step}"


def step_network(lab: Lab, report: Reporter) -> None:
    from tai_labs.providers.errors import NetworkError
    from tai_labs.providers.network import create_lab_network, load_lab_network

    try:
        load_lab_network(lab.id)
        return
    except NetworkError:
        pass
    net = create_lab_network(lab.id, list(lab.plan.links))
    report(Event("network", f"{len(net.bridges)} lab links, management {net.mgmt_subnet}"))


def step_nodes(lab: Lab, report: Reporter) -> None:
    from tai_labs.images.builder import ImageBuilder
    from tai_labs.providers.keys import ensure_lab_keypair

    builder = ImageBuilder()
    net = lab.network()
    _, public_key = ensure_lab_keypair(lab.folder, lab.id)
    existing = set(lab.engine.nodes())
    for node in lab.plan.nodes:
        if node.resource in existing:
            continue
        # The image in the form the node's engine boots: a disk, or the built tree.
        boot = _boot_disk(node.image, builder) if node.image_form == "disk" else None
        image = boot.disk.parent if boot else builder.get(node.image).rootfs
        spec = node.node_spec(net, image, (public_key,), boot=boot)
        created = lab.engine.create(spec)
        lab.store.put_node(
            NodeRecord(
                lab_id=lab.id,
                name=node.name,
                resource=node.resource,
                kind=node.kind.value,
                engine=node.engine,
                number=created.number,
                mgmt_address=str(spec.management.address.ip) if spec.management.address else None,
                host_key=created.host_key,
                ready=False,
                info={"image": node.image, "memory_mib": node.memory_mib},
            )
        )
        report(Event("nodes", "created", node.name))
    _write_known_hosts(lab)
    _guard_management(lab, net)
    report(Event("nodes", f"management guarded for {len(lab.plan.nodes)} nodes"))


def _guard_management(lab: Lab, net: LabNetwork) -> None:
    """Isolate the nodes on the management bridge and pin who is who there, before any boots
    (providers.mgmt_guard); the engines add the port flag as each node starts."""
    from tai_labs.providers import mgmt_guard

    mgmt_guard.install(
        lab.id,
        [
            mgmt_guard.node_port(
                lab.id, node.number, node.resource, net.node_mgmt_address(node.number).ip
            )
            for node in lab.plan.nodes
        ],
    )


def _boot_disk(name: str, builder: ImageBuilder) -> VmBoot:
    """What a node of a ``disk`` engine boots: an imported/Windows disk, else the recipe's
    VM image."""
    from tai_labs.images.disk import find_disk_image
    from tai_labs.images.vm import get_vm_image

    disk = find_disk_image(name)
    if disk is not None and disk.folder is not None:
        return disk.boot()
    return get_vm_image(name, builder).boot()


def _write_known_hosts(lab: Lab) -> None:
    from tai_labs.providers.keys import known_hosts_line

    lines = [
        known_hosts_line([r.mgmt_address, r.name], r.host_key)
        for r in lab.store.nodes(lab.id)
        if r.mgmt_address and r.host_key
    ]
    (lab.folder / "known_hosts").write_text("\n".join(lines) + "\n")


def step_boot(lab: Lab, report: Reporter) -> None:
    from tai_labs.providers.base import NodeState

    def boot(node: NodePlan) -> None:
        if lab.engine.state(node.resource) is not NodeState.RUNNING:
            lab.engine.start(node.resource, wait=True, timeout=node.boot_timeout)
        report(Event("boot", "booted", node.name))

    _parallel(lab.plan.nodes, boot)
    # A node of an imported disk has its own host key, which its engine learns at boot.
    learnt = False
    for record in lab.store.nodes(lab.id):
        if not record.host_key:
            key = lab.engine.host_key(record.resource)
            if key:
                lab.store.put_node(dataclasses.replace(record, host_key=key))
                learnt = True
    if learnt:
        _write_known_hosts(lab)


def step_roles(lab: Lab, report: Reporter) -> None:
    lab.secrets.get("device_password", 12)  # the routers' and switches' CLI password
    for group in lab.plan.groups:

        def ready(node: NodePlan) -> None:
            role = role_named(node.role)
            ctx = lab.context(node.name)
            report(Event("roles", f"provisioning ({type(role).__name__})", node.name))
            role.provision(ctx)
            role.wait_ready(ctx)
            _pin_certificates(lab, node.name, role.tls_certificates(ctx))
            lab.store.set_ready(lab.id, node.name, True)
            report(Event("roles", "ready", node.name))

        _parallel(group, ready)


def _pin_certificates(lab: Lab, node: str, certificates: dict[str, str]) -> None:
    """Pin what the node's TLS services show, as ``known_hosts`` pins its SSH host key."""
    from tai_labs.lab.pins import record_pin
    from tai_labs.sessions.tls_pin import pem_fingerprint

    for service, pem in certificates.items():
        record_pin(lab.folder, node, service, pem_fingerprint(pem))


def step_setup(lab: Lab, report: Reporter) -> None:
    for step in lab.loaded.scenario.setup:
        if step.target is None:
            raise TaiLabsError(f"setup step {step.action!r} has no target node")
        report(Event("setup", step.name or step.action, step.target))
        run_step(lab.context(step.target), step)


EXAM_START = "exam-start"


def inject_faults(lab: Lab, report: Reporter) -> None:
    """Inject every fault of the scenario (idempotent: running it again changes nothing)."""
    from tai_labs.faults.base import FAULTS, FaultError

    with lab.sessions:
        for use in lab.loaded.scenario.faults:
            plugin = FAULTS.get(use.fault)
            node = lab.node_plan(use.target)
            if plugin.engines and node.engine not in plugin.engines:
                raise FaultError(
                    f"fault {use.fault} ({use.id}) needs a {' or '.join(sorted(plugin.engines))} "
                    f"node; {use.target} is a {node.engine}",
                    hint=f"set engine: {next(iter(sorted(plugin.engines)))} on {use.target}",
                )
            report(Event("faults", f"{use.id} ({use.fault})", use.target))
            plugin().inject(lab.context(use.target), use.bound_params(plugin.Params))


def step_faults(lab: Lab, report: Reporter) -> None:
    inject_faults(lab, report)


def step_identities(lab: Lab, report: Reporter) -> None:
    """Record the identities of the objects the checks are about, as the candidate gets them."""

    def unrecorded(check: str, why: str) -> None:
        report(Event("identities", f"{check}: not recorded ({why})"))

    record = record_lab_identities(lab, unrecorded)
    count = sum(len(ids) for nodes in record.checks.values() for ids in nodes.values())
    report(Event("identities", f"{count} recorded for {len(record.checks)} checks"))
    # The change audit's baseline of the directory (its files are the snapshot's).
    baseline = record_audit_baseline(lab, unrecorded)
    for dc in baseline.directory:
        report(
            Event("identities", f"directory at USN {dc.usn}: {len(dc.objects)} objects", dc.node)
        )


def step_snapshot(lab: Lab, report: Reporter) -> None:
    """Record the lab as the candidate gets it: `reset` comes back here."""
    take_snapshot(lab, EXAM_START)
    report(Event("snapshot", f"{EXAM_START} recorded for {len(lab.plan.nodes)} nodes"))


def take_snapshot(lab: Lab, name: str) -> None:
    _parallel(lab.plan.nodes, lambda node: lab.engine.snapshot(node.resource, name))


def revert_to(lab: Lab, name: str, nodes: Sequence[str] = (), report: Reporter = _quiet) -> None:
    """Put nodes (default: all) back to a snapshot, then wait until their roles are ready."""
    chosen = [n for n in lab.plan.nodes if not nodes or n.name in nodes]
    unknown = set(nodes) - {n.name for n in lab.plan.nodes}
    if unknown:
        raise TaiLabsError(f"lab {lab.id} has no node {', '.join(sorted(unknown))}")

    def revert(node: NodePlan) -> None:
        lab.engine.revert(node.resource, name)
        report(Event("revert", f"back to {name}", node.name))

    _parallel(chosen, revert)
    # Sessions opened before the revert reach nodes as they were: the next `get` reopens.
    lab.sessions.close()
    # A node a fault targets may be unable to pass its role's readiness by design (a client
    # whose resolver is wrong cannot resolve the DC): booted is all it can promise.
    faulted = {f.target for f in lab.loaded.scenario.faults}
    with lab.sessions:
        for group in lab.plan.groups:
            members = [n for n in group if n in chosen and n.name not in faulted]

            def ready(node: NodePlan) -> None:
                role = role_named(node.role)
                role.wait_started(lab.context(node.name))
                report(Event("ready", "started", node.name))

            _parallel(members, ready)
    # The snapshot predates any gateway grant: its key goes back on the reverted nodes.
    from tai_labs.lab.gateway import reauthorize

    reauthorize(lab)


def step_brief(lab: Lab, report: Reporter) -> None:
    from tai_labs.lab.access import WEB_BRIEF_FILE, lab_brief

    path = lab.folder / "brief.md"
    # They give the candidate's access: owner-only, like secrets. The portal's own first,
    # so a brief.md on disk means both are there.
    write_private(lab.folder / WEB_BRIEF_FILE, lab_brief(lab, web=True))
    write_private(path, lab_brief(lab))
    report(Event("brief", f"written to {path}"))


UP_STEPS: tuple[tuple[str, Callable[[Lab, Reporter], None]], ...] = (
    ("images", step_images),
    ("network", step_network),
    ("nodes", step_nodes),
    ("boot", step_boot),
    ("roles", step_roles),
    ("setup", step_setup),
    ("faults", step_faults),
    ("identities", step_identities),
    ("snapshot", step_snapshot),
    ("brief", step_brief),
)


# -- commands ----------------------------------------------------------------------------------


def up(
    scenario_file: Path,
    *,
    candidate: str,
    seed: int,
    lab_id: str | None = None,
    report: Reporter = _quiet,
    store: Store | None = None,
    faults: bool = True,
) -> Lab:
    """Bring a lab up (or resume one); return it ready, or raise with the lab left for `down`.

    ``faults=False`` prepares the lab without breaking it (a demonstration, a test of the
    graders): the faults step is recorded as skipped, so a resumed `up` does not inject them.
    """
    from tai_labs.providers.naming import check_lab_id, new_lab_id

    store = store or Store()
    lab_id = check_lab_id(lab_id) if lab_id else new_lab_id()
    scenario_file = scenario_file.resolve()
    folder = lab_folder(lab_id)
    with lab_lock(lab_id):
        existing = store.find_lab(lab_id)
        if existing is not None:
            same = (Path(existing.scenario_file), existing.candidate, existing.seed)
            if same != (scenario_file, candidate, seed):
                raise TaiLabsError(
                    f"lab {lab_id} exists for {existing.scenario} / {existing.candidate} / "
                    f"seed {existing.seed}",
                    hint="resume it with the same scenario, candidate and seed, or pick another id",
                )
            report(Event("resume", f"resuming lab {lab_id} ({existing.status})"))
        # Render (and so validate) before anything touches the host; the folder holds the
        # lab's secrets, so it exists first, and goes again if the scenario is refused.
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
        try:
            loaded = render_for_lab(scenario_file, lab_id, candidate, seed, LabSecrets(folder))
            missing = up_blockers(loaded.scenario)
            if missing:
                raise TaiLabsError(
                    f"scenario {loaded.scenario.id} cannot be brought up yet: " + "; ".join(missing)
                )
        except BaseException:
            if existing is None:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        if existing is None:
            store.add_lab(lab_id, loaded.scenario.id, scenario_file, candidate, seed)
        lab = open_lab(lab_id, store)
        done = store.done_steps(lab_id)
        store.set_status(lab_id, "creating")
        with lab.sessions:  # the sessions roles, steps and faults open close with `up`
            for name, step in UP_STEPS:
                if name in done:
                    continue
                if name == "faults" and not faults:
                    store.step_started(lab_id, name)
                    store.step_finished(lab_id, name, "done", "skipped: faults not wanted")
                    report(Event(name, "skipped (--no-faults)"))
                    continue
                store.step_started(lab_id, name)
                report(Event(name, "started"))
                try:
                    step(lab, report)
                except BaseException as exc:
                    interrupted = isinstance(exc, KeyboardInterrupt)
                    store.step_finished(lab_id, name, "failed", str(exc) or type(exc).__name__)
                    store.set_status(lab_id, "interrupted" if interrupted else "failed", str(exc))
                    raise
                store.step_finished(lab_id, name, "done")
        store.set_status(lab_id, "ready")
        return open_lab(lab_id, store)


def down(lab_id: str, *, store: Store | None = None) -> list[str]:
    """Remove every trace of the lab from the host and the store; return what was removed."""
    from tai_labs.providers.cleanup import cleanup_lab
    from tai_labs.providers.naming import check_lab_id

    store = store or Store()
    check_lab_id(lab_id)
    with lab_lock(lab_id):
        report = cleanup_lab(lab_id)
        store.remove_lab(lab_id)
    locations().lab_lock(lab_id).unlink(missing_ok=True)
    removed = [f"gateway account {a}" for a in report.accounts]
    removed += [f"container {c}" for c in report.containers]
    removed += [f"VM {d}" for d in report.domains]
    removed += [f"interface {link}" for link in report.links]
    removed += [f"mount {m}" for m in report.mounts]
    removed += [f"cgroup {c}" for c in report.cgroup_dirs]
    removed += [f"process {p}" for p in report.processes]
    if report.removed_dir:
        removed.append(f"folder {lab_folder(lab_id)}")
    return removed


def down_all(*, store: Store | None = None) -> dict[str, list[str]]:
    """`down` every lab of the store; what was removed, by lab."""
    store = store or Store()
    return {r.id: down(r.id, store=store) for r in store.labs()}


def gc(
    *, include_failed: bool = False, orphans: bool = False, store: Store | None = None
) -> dict[str, list[str]]:
    """Remove what crashed runs left.

    By default: labs that have a folder in this data folder but no row in its store (an `up`
    killed before it recorded the lab, a `down` killed half-way), and with ``include_failed``
    the labs whose `up` failed or was interrupted. With ``orphans``, also host resources named
    after labs that neither the store nor a folder knows (an interface or a cgroup whose
    folder is gone): use it only when no other tai-labs data folder is in use on this host,
    since their labs would look like orphans too.
    """
    from tai_labs.providers.cleanup import known_labs

    store = store or Store()
    records = {r.id: r for r in store.labs()}
    root = locations().labs
    folders = {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()
    targets = {lab for lab in folders if _is_lab_id(lab)} - set(records)
    if orphans:
        targets |= set(known_labs()) - set(records)
    if include_failed:
        targets |= {i for i, r in records.items() if r.status in ("failed", "interrupted")}
    removed: dict[str, list[str]] = {}
    for lab_id in sorted(targets):
        try:
            removed[lab_id] = down(lab_id, store=store)
        except LabBusyError:
            continue  # an `up` is running on it right now: not debris
    return removed


def _is_lab_id(name: str) -> bool:
    from tai_labs.providers.naming import check_lab_id

    try:
        check_lab_id(name)
    except TaiLabsError:
        return False
    return True
