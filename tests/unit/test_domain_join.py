"""The workstation's own side of a domain join (``linux.domain_joined``): its machine keytab
and sssd/winbind configuration, read from the host's view of its disk.

The keytabs are built here byte by byte from the MIT format; the selftest of
``poste-integration-domaine`` reads the one a real ``realm join`` writes. The host's kinit is
replaced here by a captured answer of a real one (``CAPTURED_TICKET``); it runs against a
real KDC in ``tests/integration/test_host_kinit.py`` and a real Samba DC in the selftest.
"""

from __future__ import annotations

import base64
import dataclasses
import shutil
import struct
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from tai_labs.facts.keytab import KeytabEntry, parse_keytab
from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Verdict
from tai_labs.providers.base import HostView
from tai_labs.providers.kerberos import TicketAttempt
from tai_labs.providers.rootfs import OverlayTree
from tai_labs.sessions import hostside
from tai_labs.sessions.base import CommandResult, CommandSession
from tai_labs.sessions.hostside import HostSideSession, host_answer

KEY = b"\xa5SECRETKEYBYTES!" * 2  # must never show in evidence
REALM = "ATELIERSMOREL.LAN"
MACHINE = f"PC-CPT-123$@{REALM}"
KEYTAB = "/etc/krb5.keytab"
SSSD = f"""[sssd]
domains = {REALM.lower()}
services = nss, pam

[domain/{REALM.lower()}]
ad_domain = {REALM.lower()}
krb5_realm = {REALM}
id_provider = ad
"""


def octets(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def entry(principal: str, kvno: int, enctype: int = 18, wide: bool = True) -> bytes:
    names, _, realm = principal.rpartition("@")
    parts = names.split("/")
    body = struct.pack(">H", len(parts)) + octets(realm.encode())
    body += b"".join(octets(p.encode()) for p in parts)
    body += struct.pack(">IIB", 1, 1733400000, kvno % 256)
    body += struct.pack(">H", enctype) + octets(KEY)
    if wide:
        body += struct.pack(">I", kvno)
    return struct.pack(">i", len(body)) + body


def keytab(*entries: bytes, hole: int = 0) -> bytes:
    data = b"\x05\x02" + b"".join(entries)
    if hole:
        data += struct.pack(">i", -hole) + b"\0" * hole
    return data


class ForgingNode(CommandSession):
    """The node's own channel as a hostile root makes it: it says the keytab is fine."""

    shell = "posix"
    transport = "exec"

    def __init__(self, forged: bytes) -> None:
        self.forged = forged
        self.asked: list[list[str]] = []

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        self.asked.append(list(argv))
        return CommandResult(0, base64.b64encode(self.forged).decode(), "", " ".join(argv))


#: What providers.kerberos.machine_ticket returned against a real MIT KDC (integration test).
CAPTURED_TICKET = TicketAttempt(
    principal=f"PC-CPT-123$@{REALM}",
    kdc="192.168.10.10:88",
    rc=0,
    answered_by=["192.168.10.10:88"],
    ticket=f"Default principal: PC-CPT-123$@{REALM}\n\n"
    f"12/05/26 19:05:01  12/06/26 05:05:01  krbtgt/{REALM}@{REALM}\n",
)
CAPTURED_STALE = TicketAttempt(
    principal=f"PC-CPT-123$@{REALM}",
    kdc="192.168.10.10:88",
    rc=1,
    answered_by=["192.168.10.10:88"],
    error="kinit: Preauthentication failed while getting initial credentials",
)


@pytest.fixture(autouse=True)
def kdc_answers(monkeypatch: pytest.MonkeyPatch) -> list[TicketAttempt]:
    """The captured answer the host's kinit gives (first of the list), asked nothing else."""
    answers = [CAPTURED_TICKET]

    def captured(ns: object, keytab: bytes, principal: str, *args: object, **kw: object):
        return answers[0]

    monkeypatch.setattr(hostside, "machine_ticket", captured)
    return answers


def node(tmp_path: Path, files: dict[str, bytes | str]) -> tuple[HostSideSession, ForgingNode]:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for path, content in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    forging = ForgingNode(keytab(entry(f"PC-CPT-123$@{REALM}", 2)))
    view = HostView(OverlayTree([root]), 1)
    return HostSideSession(forging, view, peers=lambda node: view), forging


def grade(session: CommandSession, **params: object) -> tuple[object, object]:
    plugin = CHECKS.get("linux.domain_joined")
    p = plugin.Params.model_validate(
        {
            "realm": REALM.lower(),
            "computer": "PC-CPT-123",
            "kdc_node": "dc1",
            "kdc": "192.168.10.10",
            **params,
        }
    )
    ev = plugin().collect(session, p)
    return plugin().judge(ev, p), ev


def test_parse_principals_kvno_and_skip_holes() -> None:
    data = keytab(
        entry(f"PC-CPT-123$@{REALM}", 2),
        entry(f"host/pc-cpt-123.ateliersmorel.lan@{REALM}", 300, 17, wide=True),
        entry(f"RESTRICTEDKRBHOST/PC-CPT-123@{REALM}", 3, 23, wide=False),
        hole=12,
    )
    assert parse_keytab(data) == [
        KeytabEntry(f"PC-CPT-123$@{REALM}", 2, 18),
        KeytabEntry(f"host/pc-cpt-123.ateliersmorel.lan@{REALM}", 300, 17),
        KeytabEntry(f"RESTRICTEDKRBHOST/PC-CPT-123@{REALM}", 3, 23),
    ]
    for bad in (b"", b"hello", b"\x05\x02\x00\x00\x00\x40abc"):
        with pytest.raises(ValueError):
            parse_keytab(bad)


@pytest.mark.skipif(shutil.which("base64") is None, reason="needs coreutils")
def test_host_answers_base64_as_the_tool_does(tmp_path: Path) -> None:
    data = keytab(entry(f"PC1$@{REALM}", 2))
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/krb5.keytab").write_bytes(data)
    host = host_answer(
        HostView(OverlayTree([tmp_path]), 1), ["base64", "-w0", "--", "/etc/krb5.keytab"]
    )
    tool = subprocess.run(
        ["base64", "-w0", str(tmp_path / "etc/krb5.keytab")], capture_output=True, text=True
    )
    assert host is not None and (host.source, host.via) == ("host", "rootfs")
    assert host.stdout == tool.stdout
    missing = host_answer(HostView(OverlayTree([tmp_path]), 1), ["base64", "-w0", "--", "/etc/x"])
    assert missing is not None and missing.rc == 1 and "No such file" in missing.stderr


def test_joined_machine_passes_and_no_key_shows(tmp_path: Path) -> None:
    session, forging = node(
        tmp_path,
        {"/etc/krb5.keytab": keytab(entry(f"PC-CPT-123$@{REALM}", 2)), "/etc/sssd/sssd.conf": SSSD},
    )
    judgement, ev = grade(session, client=True)
    assert judgement.verdict is Verdict.PASS, judgement
    assert f"PC-CPT-123$@{REALM} kvno 2" in judgement.decisive
    assert "sssd" in judgement.why_fr
    assert forging.asked == []  # every read answered by the host
    text = " ".join(f"{c.command} {c.stdout} {c.stderr}" for c in ev.commands) + repr(ev.facts)
    assert base64.b64encode(KEY).decode()[:12] not in text and "SECRETKEY" not in text


def test_object_created_by_hand_without_keytab_fails_even_if_the_node_forges_one(
    tmp_path: Path,
) -> None:
    session, forging = node(tmp_path, {"/etc/hostname": "pc-cpt-123\n"})
    judgement, _ = grade(session)
    assert judgement.verdict is Verdict.FAIL and "absent" in judgement.why_fr
    assert forging.asked == []


def test_keytab_of_another_machine_fails(tmp_path: Path) -> None:
    session, _ = node(tmp_path, {"/etc/krb5.keytab": keytab(entry(f"PC1$@{REALM}", 2))})
    judgement, _ = grade(session)
    assert judgement.verdict is Verdict.FAIL and "PC1$@" in judgement.decisive


def test_client_required_but_not_configured(tmp_path: Path) -> None:
    files: dict[str, bytes | str] = {"/etc/krb5.keytab": keytab(entry(f"PC-CPT-123$@{REALM}", 2))}
    session, _ = node(tmp_path, files)
    assert grade(session)[0].verdict is Verdict.PASS  # adcli alone: keytab, no client
    assert grade(session, client=True)[0].verdict is Verdict.FAIL
    files["/etc/samba/smb.conf"] = f"[global]\n  security = ADS\n  realm = {REALM}\n"
    session, _ = node(tmp_path / "w", files)
    judgement, _ = grade(session, client=True)
    assert judgement.verdict is Verdict.PASS and "winbind" in judgement.why_fr


def test_garbage_keytab_fails(tmp_path: Path) -> None:
    session, _ = node(tmp_path, {"/etc/krb5.keytab": b"not a keytab"})
    assert grade(session)[0].verdict is Verdict.FAIL


def test_keytab_whose_keys_the_kdc_refuses_fails(
    tmp_path: Path, kdc_answers: list[TicketAttempt]
) -> None:
    kdc_answers[0] = CAPTURED_STALE
    session, forging = node(
        tmp_path, {"/etc/krb5.keytab": keytab(entry(f"PC-CPT-123$@{REALM}", 2))}
    )
    judgement, ev = grade(session)
    assert judgement.verdict is Verdict.FAIL and "ancienne jonction" in judgement.why_fr
    assert "Preauthentication failed" in judgement.decisive
    assert forging.asked == [] and all(c.source == "host" for c in ev.commands)


def test_ticket_answered_by_another_address_is_error(
    tmp_path: Path, kdc_answers: list[TicketAttempt]
) -> None:
    kdc_answers[0] = dataclasses.replace(CAPTURED_TICKET, answered_by=["192.168.10.51:88"])
    session, _ = node(tmp_path, {KEYTAB: keytab(entry(MACHINE, 2))})
    judgement, _ = grade(session)
    assert judgement.verdict is Verdict.ERROR and "192.168.10.51" in judgement.decisive


def test_no_host_side_kinit_is_error_not_pass(tmp_path: Path) -> None:
    _, forging = node(tmp_path, {"/etc/krb5.keytab": keytab(entry(f"PC-CPT-123$@{REALM}", 2))})
    # A VM node: no host view, so only the node could answer, and its kinit is not trusted.
    judgement, _ = grade(forging)
    assert judgement.verdict is Verdict.ERROR and "en personne" in judgement.why_fr


def test_the_kdc_must_be_an_address() -> None:
    plugin = CHECKS.get("linux.domain_joined")
    with pytest.raises(ValueError):
        plugin.Params.model_validate(
            {"realm": "x.lan", "computer": "PC1", "kdc_node": "dc1", "kdc": "dc1.x.lan\n[realms]"}
        )


def test_object_made_by_hand_has_no_keys_for_the_keytab_and_fails(
    tmp_path: Path, kdc_answers: list[TicketAttempt]
) -> None:
    # What the selftest's computer-object-by-hand gets from Samba: the object made with
    # samba-tool computer create holds no key, so a ktutil-made keytab gets none either.
    kdc_answers[0] = dataclasses.replace(
        CAPTURED_STALE,
        error="kinit: KDC has no support for encryption type while getting initial credentials",
    )
    session, _ = node(tmp_path, {KEYTAB: keytab(entry(MACHINE, 1))})
    judgement, _ = grade(session)
    assert judgement.verdict is Verdict.FAIL and "à la main" in judgement.why_fr
