"""The graphical console in a real browser: Debian's Chromium (Playwright) on `tai-labs serve`,
noVNC in the page, the portal's WebSocket relaying to a real QEMU display.

The display is a real libvirt domain started by the test: no disk, 32 MiB, a VGA card and
the VNC display a Windows node's domain has (``vnc`` on 127.0.0.1, ``autoport``), with the
tai-labs metadata of the candidate's lab. It shows SeaBIOS's screen ("No bootable device"),
a real framebuffer; booting Windows itself needs an image this host does not have. The
portal finds the port as for a lab's node (the domain's live XML, through libvirt). The
lab's other records are the portal test world's (``tests/portal_world.py``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_portal_browser import CHROMIUM, _log_in, _serve

from portal_world import PortalWorld, make_portal_world

pytestmark = pytest.mark.integration

#: Counts the canvas's pixels that are not black (the screen noVNC draws into).
_LIT_PIXELS = """() => {
  const canvas = document.querySelector("[data-console] canvas");
  if (!canvas || !canvas.width) { return 0; }
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let lit = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] + data[i + 1] + data[i + 2] > 96) { lit++; }
  }
  return lit;
}"""


def _domain_xml(name: str, lab_id: str, virt: str) -> str:
    from tai_labs.providers.vm_domain import METADATA_NS, VNC_LISTEN

    dom = ET.Element("domain", type=virt)
    ET.SubElement(dom, "name").text = name
    meta = ET.SubElement(dom, "metadata")
    ET.SubElement(meta, f"{{{METADATA_NS}}}node", lab=lab_id, node="win1").text = "tai-labs"
    ET.SubElement(dom, "memory", unit="MiB").text = "32"
    ET.SubElement(dom, "vcpu").text = "1"
    os_el = ET.SubElement(dom, "os")
    ET.SubElement(os_el, "type", arch="x86_64", machine="pc").text = "hvm"
    devices = ET.SubElement(dom, "devices")
    # as vm_domain gives a Windows node's domain
    ET.SubElement(devices, "graphics", type="vnc", autoport="yes", listen=VNC_LISTEN)
    ET.SubElement(ET.SubElement(devices, "video"), "model", type="vga")
    ET.SubElement(devices, "memballoon", model="none")
    return ET.tostring(dom, encoding="unicode")


@pytest.fixture
def console_world(tmp_path: Path) -> Iterator[PortalWorld]:
    """The portal world, alice's lab with a Windows VM node ``win1`` whose domain runs."""
    if os.geteuid() != 0:
        pytest.skip("needs root (libvirt's system connection, the VM engine)")
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[dev]')")
    pytest.importorskip("libvirt", reason="needs libvirt-python (pip install -e '.[vm]')")
    if shutil.which("qemu-system-x86_64") is None or shutil.which("qemu-img") is None:
        pytest.skip("needs qemu-system-x86 and qemu-utils (make install)")
    from tai_labs.lab.store import NodeRecord, Store
    from tai_labs.locations import locations
    from tai_labs.providers import accel
    from tai_labs.providers.libvirt_conn import connect, daemon_running

    if not daemon_running():
        pytest.skip("needs libvirtd running (scripts/start-libvirt.sh)")
    world = make_portal_world(tmp_path / "data")
    lab_id = world.labs["alice"]
    domain = f"{lab_id}-win{secrets.token_hex(3)}"  # unique: other tests may run beside
    Store(locations(world.data).store).put_node(
        NodeRecord(lab_id, "win1", domain, "windows-client", "vm", 5, None, None, True, {})
    )
    # The host's own decision (a test boot, cached): /dev/kvm open to root proves nothing
    # when QEMU, run by libvirt, cannot open it. Software emulation lights a screen too.
    decided = accel.cached()
    virt = decided.virt_type if decided is not None else "qemu"
    dom = connect().createXML(_domain_xml(domain, lab_id, virt), 0)
    try:
        yield world
    finally:
        dom.destroy()  # transient: destroyed is gone


def _wait_for_a_lit_screen(page: Any, minimum: int = 200) -> int:
    # polled from here: wait_for_function would eval a string, which the page's CSP forbids
    deadline = time.monotonic() + 30
    while (lit := int(page.evaluate(_LIT_PIXELS))) < minimum:
        assert time.monotonic() < deadline, f"the screen stayed dark ({lit} lit pixels)"
        time.sleep(0.25)
    return lit


def test_the_candidate_sees_the_vms_screen_in_chromium(
    console_world: PortalWorld, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    world = console_world
    alice_lab = world.labs["alice"]
    with _serve(world, tmp_path) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_context(locale="fr-FR").new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            _log_in(page, url, world.session, "alice", world.passwords["alice"])
            expect(page).to_have_url(f"{url}/lab/{alice_lab}")
            # the Windows node offers its desktop, not a text terminal it does not have
            expect(page.locator("li[data-node=win1] a.terminal")).to_have_count(0)
            expect(page.locator("li[data-node=pc1] a.terminal")).to_have_count(1)
            page.screenshot(path=str(tmp_path / "candidat-lab-windows.png"), full_page=True)
            page.click("li[data-node=win1] a.console")
            expect(page).to_have_url(f"{url}/lab/{alice_lab}/node/win1/console")
            screen = page.locator("[data-console]")
            expect(screen).to_have_attribute("data-state", "connected", timeout=30_000)
            expect(page.locator("[data-console-status]")).to_have_text("connectée")
            lit = _wait_for_a_lit_screen(page)
            size = page.evaluate(
                "() => { const c = document.querySelector('[data-console] canvas');"
                " return [c.width, c.height]; }"
            )
            print(f"VM screen {size[0]}x{size[1]}, {lit} lit pixels")
            assert size[0] >= 640 and size[1] >= 400  # the VGA text screen, 720x400
            page.screenshot(path=str(tmp_path / "candidat-console.png"), full_page=True)
            page.click("[data-console-cad]")  # Ctrl+Alt+Del reaches QEMU without breaking
            expect(screen).to_have_attribute("data-state", "connected")
            assert errors == [], errors  # no CSP violation, no module missing

            # another candidate, typing alice's console address: 404, and no display
            other = browser.new_context(locale="fr-FR").new_page()
            _log_in(other, url, world.session, "bruno", world.passwords["bruno"])
            expect(other).to_have_url(f"{url}/lab/{world.labs['bruno']}")
            answer = other.goto(f"{url}/lab/{alice_lab}/node/win1/console")
            assert answer is not None and answer.status == 404

            instructor = browser.new_context(locale="fr-FR").new_page()
            _log_in(instructor, url, "", *world.instructor)
            expect(instructor).to_have_url(f"{url}/instructor")
            instructor.goto(f"{url}/lab/{alice_lab}/node/win1/console")
            expect(instructor.locator("[data-console]")).to_have_attribute(
                "data-state", "connected", timeout=30_000
            )
            _wait_for_a_lit_screen(instructor)
            instructor.screenshot(path=str(tmp_path / "formateur-console.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "candidat-console.png").stat().st_size > 5000


def test_the_port_comes_from_the_domain_of_that_lab_only(console_world: PortalWorld) -> None:
    from tai_labs.lab import graphics
    from tai_labs.lab.store import Store
    from tai_labs.locations import locations
    from tai_labs.providers.errors import NodeNotFoundError
    from tai_labs.providers.libvirt_conn import connect
    from tai_labs.providers.vm_domain import vnc_port_of_domain_xml

    world = console_world
    alice_lab, bruno_lab = world.labs["alice"], world.labs["bruno"]
    node = next(n for n in Store(locations(world.data).store).nodes(alice_lab) if n.name == "win1")
    port = graphics.display_port(alice_lab, node, world.data)
    live = connect().lookupByName(node.resource).XMLDesc(0)
    assert port == vnc_port_of_domain_xml(live) and 5900 <= port < 65536
    # the same domain asked for as another lab's node: its metadata says whose it is
    with pytest.raises(NodeNotFoundError):
        graphics.display_port(bruno_lab, node, world.data)
