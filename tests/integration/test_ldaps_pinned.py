"""LDAPS to a real Samba DC is pinned: a DC whose certificate is replaced grades `error`.

One lab of the ``compte-verrouille`` scenario (its checks are all ``ad.user``, over the
directory session), brought up by the real lifecycle, faults off, always removed. The
replacement is what a candidate (or an impostor) would do: Samba's ``tls/*.pem`` deleted and
the DC restarted, so Samba makes a new self-signed certificate.
"""

from __future__ import annotations

import json
import os
import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest
from roles_fixtures import skip_unless_images

from conftest import host_problem
from tai_labs.grading.model import Verdict
from tai_labs.providers import naming
from tai_labs.sessions.tls_pin import pem_fingerprint

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    problem = host_problem("lxc-start", "lxc-attach", "ip", "nft")
    if problem:
        pytest.skip(problem)
    pytest.importorskip("ldap3", reason="ldap3 is needed for the directory session")
    from tai_labs.errors import TaiLabsError
    from tai_labs.lab import lifecycle
    from tai_labs.lab.runtime import open_lab
    from tai_labs.scenario.catalog import find

    skip_unless_images("ad-dc", "router", "client")
    reuse = os.environ.get("TAI_LABS_AD_LAB")  # a lab already up; its DC's certificate changes
    if reuse:
        yield open_lab(reuse)
        return
    lab_id = naming.new_lab_id()
    try:
        try:
            lab = lifecycle.up(
                find("compte-verrouille"), candidate="pin", seed=0, lab_id=lab_id, faults=False
            )
        except TaiLabsError as exc:
            if "cannot be brought up yet" in exc.message:
                pytest.skip(exc.message)
            raise
        yield lab
    finally:
        lifecycle.down(lab_id)


def _served_fingerprint(lab: Any) -> str:
    """The certificate the DC's LDAPS port shows on the network now."""
    return pem_fingerprint(ssl.get_server_certificate((str(lab.mgmt_address("dc1")), 636)))


def _grade(lab: Any) -> list[Any]:
    from tai_labs.lab.grading import grade_lab

    return grade_lab(lab.id).checks


def test_the_pin_is_the_certificate_the_dc_serves(lab: Any) -> None:
    pins = json.loads((lab.folder / "tls_pins.json").read_text())
    assert pins["dc1"]["ldaps"] == _served_fingerprint(lab)
    assert (lab.folder / "tls_pins.json").stat().st_mode & 0o777 == 0o600


def test_a_replaced_dc_certificate_makes_every_ldaps_check_error(lab: Any) -> None:
    before = _grade(lab)
    assert before and all(c.verdict in (Verdict.PASS, Verdict.FAIL) for c in before), [
        (c.id, c.verdict, c.why_en) for c in before
    ]
    pinned = _served_fingerprint(lab)
    tls = "/var/lib/samba/private/tls"
    res = lab.exec("dc1", ["sh", "-c", f"rm -f {tls}/*.pem && systemctl restart samba-ad-dc"])
    assert res.ok, res.stderr
    deadline = time.monotonic() + 90
    served = ""
    while time.monotonic() < deadline:
        try:
            served = _served_fingerprint(lab)
            break
        except OSError:  # samba's LDAP task is not listening yet
            time.sleep(1)
    assert served and served != pinned, "Samba did not make a new certificate"

    after = _grade(lab)
    assert len(after) == len(before)
    # Never pass or fail on what an unverified peer says; checks that depend on one in
    # error are skipped, as for any prerequisite that did not pass.
    directory = [c for c in after if c.grader.startswith("ad.")]
    assert directory and {c.verdict for c in directory} <= {Verdict.ERROR, Verdict.SKIPPED}
    # what no LDAPS answer decides (the default address invariants) is judged as before
    others = {c.id: c.verdict for c in after if not c.grader.startswith("ad.")}
    assert others == {c.id: c.verdict for c in before if not c.grader.startswith("ad.")}
    errors = [c for c in after if c.verdict is Verdict.ERROR]
    assert errors
    for check in errors:
        assert "identité non vérifiée" in check.message
        assert served in check.why_en and pinned in check.why_en
