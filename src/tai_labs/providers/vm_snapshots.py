"""Internal snapshots of a VM node (disk and memory, in its overlay), and the guest clock
offset each one keeps so that a revert does not erase a clock shifted on purpose."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from tai_labs.providers.engine_common import check_snapshot_name
from tai_labs.providers.errors import EngineError, SnapshotNotFoundError
from tai_labs.providers.vm_agent import clock_offset

if TYPE_CHECKING:
    import libvirt


def _offsets(path: Path) -> dict[str, float]:
    return dict(json.loads(path.read_text())) if path.is_file() else {}


def take_snapshot(
    libvirt_: ModuleType, dom: libvirt.virDomain, node: str, name: str, offsets: Path
) -> None:
    """A running snapshot named name (replacing an older one); its clock offset is kept in
    the offsets file."""
    check_snapshot_name(name)
    with contextlib.suppress(libvirt_.libvirtError):
        dom.snapshotLookupByName(name).delete()
    xml = f"<domainsnapshot><name>{name}</name></domainsnapshot>"  # name checked above
    offset = clock_offset(dom)
    try:
        dom.snapshotCreateXML(xml, 0)
    except libvirt_.libvirtError as exc:
        raise EngineError(f"snapshot of {node!r} failed: {exc.get_error_message()}") from exc
    recorded = _offsets(offsets)
    recorded[name] = offset
    offsets.write_text(json.dumps(recorded))


def revert_snapshot(
    libvirt_: ModuleType, dom: libvirt.virDomain, node: str, name: str, offsets: Path
) -> float:
    """Revert to the snapshot named name; return the clock offset it had (to set again)."""
    check_snapshot_name(name)
    try:
        snap = dom.snapshotLookupByName(name)
    except libvirt_.libvirtError:
        raise SnapshotNotFoundError(f"node {node!r} has no snapshot {name!r}") from None
    try:
        dom.revertToSnapshot(snap, libvirt_.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING)
    except libvirt_.libvirtError as exc:
        raise EngineError(f"revert of {node!r} failed: {exc.get_error_message()}") from exc
    return _offsets(offsets).get(name, 0.0)
