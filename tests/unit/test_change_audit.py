"""The change audit ("modifications constatées"): the host-side diff of a node's writable
layer on layers fabricated in tmp_path, the noise table, dpkg and systemd parsing, the
directory comparison, and the reports. Whiteouts and opaque directories are the real
character devices and xattrs overlayfs writes (root needed; those tests skip without it).
"""

from __future__ import annotations

import html
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from tai_labs.grading.audit import (
    NOISE,
    ChangeAudit,
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
    installed_packages,
    is_expected,
    mark_services,
    noise_label,
    package_changes,
    package_list_file,
    running_changes,
    service_changes,
)
from tai_labs.grading.result import GradeReport
from tai_labs.lab import audit as lab_audit
from tai_labs.lab import lifecycle
from tai_labs.lab.runtime import Lab
from tai_labs.providers.cgroups import running_services
from tai_labs.providers.overlay_diff import LayerPair, diff_layers
from tai_labs.providers.rootfs import IdMap
from tai_labs.reports import grading as render
from tai_labs.sessions.base import DirectoryEntry

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="whiteouts and trusted xattrs need root")


def put(base: Path, rel: str, text: str = "", mode: int = 0o644) -> Path:
    path = base / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def whiteout(base: Path, rel: str) -> None:
    path = base / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


@pytest.fixture
def pair(tmp_path: Path) -> LayerPair:
    """An image, the exam-start upper (a fault's edit) and a current upper to fill."""
    lower, before, after = (tmp_path / n for n in ("lower", "before", "after"))
    put(lower, "etc/hosts", "127.0.0.1 localhost\n")
    put(lower, "etc/motd", "image\n")
    put(lower, "etc/issue", "Debian\n")
    put(lower, "etc/cron.daily/dpkg", "#!/bin/sh\n")
    put(lower, "etc/cron.daily/apt", "#!/bin/sh\n")
    put(lower, "var/log/syslog", "")
    put(lower, "usr/bin/tool", "v1")
    put(lower, "root/.profile", "")
    put(lower, "tmp/.keep", "")
    put(lower, "var/.keep", "")
    put(lower, "etc/systemd/system/sshd.service", "")
    put(before, "etc/resolv.conf", "nameserver 10.0.0.9\n")  # the fault, in the snapshot
    for base in (before, after):
        base.mkdir(exist_ok=True)
    put(after, "etc/resolv.conf", "nameserver 10.0.0.9\n")  # unchanged since exam start
    return LayerPair(before, after, (lower,))


def changes(pair: LayerPair, **kw: Any) -> dict[str, tuple[str, str]]:
    return {c.path: (c.change, c.detail) for c in diff_layers(pair, **kw).changes}


def test_nothing_changed_lists_nothing(pair: LayerPair) -> None:
    diff = diff_layers(pair)
    assert diff.changes == [] and not diff.truncated


def test_created_modified_and_mode_changes(pair: LayerPair) -> None:
    put(pair.after, "etc/hosts", "127.0.0.1 localhost\n10.0.0.66 dc1\n")
    put(pair.after, "etc/issue", "Debian\n", mode=0o600)
    put(pair.after, "etc/sudoers.d/candidate", "ALL ALL=(ALL) NOPASSWD: ALL\n")
    put(pair.after, "etc/resolv.conf", "nameserver 10.0.0.1\n")  # the fault's file, fixed
    found = changes(pair)
    assert found["/etc/hosts"] == ("modified", "content")
    assert found["/etc/issue"] == ("modified", "mode 644 -> 600")
    assert found["/etc/resolv.conf"] == ("modified", "content")
    assert found["/etc/sudoers.d"][0] == "created"
    assert "/etc/sudoers.d/candidate" not in found  # a created folder is one line, counted
    assert next(c for c in diff_layers(pair).changes if c.path == "/etc/sudoers.d").entries == 1


def test_a_copy_up_with_the_same_content_is_no_change(pair: LayerPair) -> None:
    put(pair.after, "etc/hosts", "127.0.0.1 localhost\n")  # copied up, not changed
    assert changes(pair) == {}


def test_the_snapshot_state_is_the_reference_not_the_image(pair: LayerPair) -> None:
    # Putting back the image's file over the fault's is a change since exam start.
    (pair.after / "etc/resolv.conf").unlink()
    assert changes(pair) == {"/etc/resolv.conf": ("deleted", "")}


@needs_root
def test_deleted_files_and_opaque_folders(pair: LayerPair) -> None:
    whiteout(pair.after, "etc/motd")
    opaque = pair.after / "etc/cron.daily"
    opaque.mkdir(parents=True)
    os.setxattr(opaque, "trusted.overlay.opaque", b"y")
    put(pair.after, "etc/cron.daily/evil", "#!/bin/sh\n")
    found = changes(pair)
    assert found["/etc/motd"] == ("deleted", "")
    assert found["/etc/cron.daily/dpkg"] == ("deleted", "")
    assert found["/etc/cron.daily/apt"] == ("deleted", "")
    assert found["/etc/cron.daily/evil"] == ("created", "")


def test_links_are_compared_by_target_and_never_followed(pair: LayerPair, tmp_path: Path) -> None:
    (pair.before / "etc/alternatives").mkdir(parents=True)
    (pair.before / "etc/alternatives/editor").symlink_to("/bin/nano")
    (pair.after / "etc/alternatives").mkdir(parents=True)
    (pair.after / "etc/alternatives/editor").symlink_to("/usr/bin/vim")
    # A link in the node's layer to a host folder: the walk must not go through it.
    secret = put(tmp_path, "host-secret/file", "host")
    (pair.after / "etc/escape").symlink_to(secret.parent)
    diff = diff_layers(pair)
    found = {c.path: c for c in diff.changes}
    assert found["/etc/alternatives/editor"].detail == "target /bin/nano -> /usr/bin/vim"
    assert found["/etc/escape"].kind == "symbolic link"
    assert all("host-secret" not in c.path for c in diff.changes)


def test_owners_read_through_the_node_id_map(pair: LayerPair) -> None:
    if not ROOT:
        pytest.skip("chown needs root")
    put(pair.after, "etc/issue", "Debian\n")
    os.chown(pair.after / "etc/issue", 100000 + 1000, 100000 + 1000)
    for base in (pair.lowers[0], pair.after):
        for path in (base, *base.rglob("*")):
            if path != pair.after / "etc/issue":
                os.lchown(path, 100000, 100000)
    ids = IdMap(((0, 100000, 65536),))
    shifted = LayerPair(pair.before, pair.after, pair.lowers, ids, ids)
    os.lchown(pair.before, 100000, 100000)
    for path in pair.before.rglob("*"):
        os.lchown(path, 100000, 100000)
    assert changes(shifted) == {"/etc/issue": ("modified", "owner 0:0 -> 1000:1000")}


def test_noise_is_pruned_and_counted(pair: LayerPair) -> None:
    put(pair.after, "var/log/syslog", "lots\n")
    put(pair.after, "var/log/journal/abc/system.journal", "x")
    put(pair.after, "root/.bash_history", "rm -rf /\n")
    put(pair.after, "tmp/x", "")
    put(pair.after, "etc/hosts", "changed\n")
    diff = diff_layers(pair, skip=noise_label)
    assert [c.path for c in diff.changes] == ["/etc/hosts"]
    assert diff.filtered == {"journaux": 1, "historique du shell": 1, "fichiers temporaires": 1}


def test_the_walk_is_bounded_in_changes_and_time(pair: LayerPair) -> None:
    for i in range(30):
        put(pair.after, f"etc/f{i}", "x")
    capped = diff_layers(pair, max_changes=10)
    assert len(capped.changes) == 10 and "more than 10 changes" in capped.truncated
    late = diff_layers(pair, deadline=time.monotonic() - 1)
    assert "time limit" in late.truncated


def test_deep_or_wide_folders_stop_the_walk_and_say_so(
    pair: LayerPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tai_labs.providers import overlay_diff

    deep = pair.after / "etc" / "/".join(["d"] * 60)
    deep.mkdir(parents=True)
    (pair.before / "etc" / "/".join(["d"] * 60)).mkdir(parents=True)
    monkeypatch.setattr(overlay_diff, "MAX_NAMES", 5)
    for i in range(10):
        put(pair.after, f"srv/f{i}")
    put(pair.lowers[0], "srv/.keep")
    put(pair.after, "var/z-after-both", "still seen")
    diff = diff_layers(pair)
    assert any("nested deeper than" in s for s in diff.skipped)
    assert any(s.startswith("/srv: more than 5 names") for s in diff.skipped)
    # Neither hides the changes walked after it.
    assert [c.path for c in diff.changes] == ["/var/z-after-both"]


def test_noise_rules_match_whole_segments() -> None:
    assert noise_label("/var/log") == "journaux"
    assert noise_label("/var/logs-of-candidate/x") is None
    assert noise_label("/home/alice/.bash_history") == "historique du shell"
    assert noise_label("/home/alice/notes.txt") is None
    assert noise_label("/var/lib/samba/private/sam.ldb.d/x.ldb") is not None
    assert noise_label("/var/lib/samba/sysvol/dom/Policies/x/GPT.INI") is None  # GPOs listed
    assert noise_label("/etc/passwd") is None
    assert noise_label("/etc/group-") == "copies des comptes"
    for rule in NOISE:
        assert rule.pattern.startswith("/") and rule.label and rule.why


def test_expected_paths_from_the_check_params() -> None:
    params = {"path": "/srv/partages/compta", "mode": "2770", "files": ["/etc/hosts"], "n": 3}
    assert check_paths(params) == {"/srv/partages/compta", "/etc/hosts"}
    targets = check_paths(params)
    assert is_expected("/srv/partages/compta/x", targets)
    assert is_expected("/srv/partages", targets)  # the folder created to hold it
    assert is_expected("/etc/hosts", targets)
    assert not is_expected("/etc/hosts.allow", targets)


def test_paths_the_evidence_read_are_expected_exactly() -> None:
    read = command_paths(
        [
            ("pc1", "cat /etc/ssh/sshd_config"),
            ("pc1", "stat -c '%a %U' /srv/partages/compta"),
            ("pc1", "/usr/sbin/nft -j list ruleset"),  # the program is not a file judged
            ("pc1", "cat /proc/net/route"),
            ("dc1", "cat /etc/samba/smb.conf '"),  # unbalanced quote: split on spaces
        ]
    )
    assert read == {
        "pc1": {"/etc/ssh/sshd_config", "/srv/partages/compta"},
        "dc1": {"/etc/samba/smb.conf"},
    }
    assert is_expected("/etc/ssh/sshd_config", [], read["pc1"])
    assert not is_expected("/srv/partages/compta/other", [], read["pc1"])


STATUS = """Package: nano
Status: install ok installed
Architecture: amd64
Version: 7.2-1
Description: small editor
 with a continuation line: Status: deinstall

Package: vim-tiny
Status: deinstall ok config-files
Version: 2:9.0

Package: libc6
Status: install ok installed
Multi-Arch: same
Architecture: amd64
Version: 2.36-9
"""


def test_dpkg_status_installed_removed_upgraded() -> None:
    assert installed_packages(STATUS) == {"nano": "7.2-1", "libc6:amd64": "2.36-9"}
    after = STATUS.replace(
        "Package: nano\nStatus: install ok installed",
        "Package: nano\nStatus: deinstall ok config-files",
    )
    after = (
        after.replace("2.36-9", "2.36-10")
        + "\nPackage: nmap\nStatus: install ok installed\nVersion: 7.93\n"
    )
    found = {(c.name, c.change, c.before, c.after) for c in package_changes(STATUS, after)}
    assert found == {
        ("nano", "removed", "7.2-1", ""),
        ("libc6:amd64", "upgraded", "2.36-9", "2.36-10"),
        ("nmap", "installed", "", "7.93"),
    }
    assert package_changes(STATUS, STATUS) == []


def test_files_of_changed_packages_are_folded_into_the_package() -> None:
    rows = [
        row("/usr/bin/nano", "deleted", "regular file"),
        row("/usr/share/doc/nano", "deleted", "directory"),
        row("/etc/nanorc", "modified", "regular file"),
        row("/etc/hosts", "modified", "regular file"),
    ]
    nano_list = "/.\n/bin\n/bin/nano\n/usr\n/usr/share/doc/nano\n"  # merged /usr
    kept, folded = fold_package_files(rows, [nano_list])
    assert [r.path for r in kept] == ["/etc/nanorc", "/etc/hosts"] and folded == 2
    assert package_list_file("libc6:amd64") == "/var/lib/dpkg/info/libc6:amd64.list"


def row(path: str, change: str, kind: str = "symbolic link", target: str = "") -> FileChangeRow:
    return FileChangeRow(path=path, change=change, kind=kind, target=target)  # type: ignore[arg-type]


def test_enablement_links_and_masks_become_service_changes() -> None:
    rows = [
        row("/etc/systemd/system/multi-user.target.wants/cron.service", "deleted"),
        row("/etc/systemd/system/multi-user.target.wants/nmbd.service", "created"),
        row("/etc/systemd/system/ssh.socket", "created", target="/dev/null"),
        row("/etc/systemd/system/timers.target.wants", "created", kind="directory"),
        row("/etc/systemd/system/cron.service.d/override.conf", "created", kind="regular file"),
        row("/etc/hosts", "modified", kind="regular file"),
    ]
    services, rest = service_changes(rows)
    assert {(s.unit, s.change) for s in services} == {
        ("cron.service", "disabled"),
        ("nmbd.service", "enabled"),
        ("ssh.socket", "masked"),
    }
    assert [r.path for r in rest] == [
        "/etc/systemd/system/cron.service.d/override.conf",
        "/etc/hosts",
    ]
    assert expands("/etc/systemd/system/timers.target.wants")
    assert not expands("/etc/ssh")


def test_created_wants_folders_are_listed_link_by_link(pair: LayerPair) -> None:
    wants = pair.after / "etc/systemd/system/timers.target.wants"
    wants.mkdir(parents=True)
    (wants / "evil.timer").symlink_to("/etc/systemd/system/evil.timer")
    found = changes(pair, expand=expands)
    assert "/etc/systemd/system/timers.target.wants/evil.timer" in found


def test_running_services_from_the_host_cgroups(tmp_path: Path) -> None:
    slice_dir = tmp_path / "systemd/tai-labs/lab/lab-pc1/system.slice"
    put(slice_dir, "cron.service/cgroup.procs", "412\n")
    put(slice_dir, "ssh.service/cgroup.procs", "")  # stopped: its cgroup stays, empty
    put(slice_dir, "system-getty.slice/cgroup.procs", "77\n")
    assert running_services("tai-labs/lab/lab-pc1", tmp_path) == {"cron.service"}
    assert running_services("tai-labs/lab/gone", tmp_path) is None
    changes = running_changes(
        ["cron.service", "ssh.service", "apt-daily.service"], ["cron.service", "dnsmasq.service"]
    )
    assert [(c.unit, c.change) for c in changes] == [
        ("dnsmasq.service", "started"),
        ("ssh.service", "stopped"),
    ]


def test_services_the_scenario_names_are_expected() -> None:
    changes = running_changes(["ssh.service"], ["dnsmasq.service"])
    marked = {c.unit: c.expected for c in mark_services(changes, {"ssh", "Comptabilite"})}
    assert marked == {"ssh.service": True, "dnsmasq.service": False}


def test_files_grouped_by_folder() -> None:
    groups = group_files(
        [
            row("/etc/b", "created", "regular file"),
            row("/etc/a", "deleted", "regular file"),
            row("/opt/x", "created", "directory"),
        ]
    )
    assert [(g.directory, g.count, [c.path for c in g.changes]) for g in groups] == [
        ("/etc", 2, ["/etc/a", "/etc/b"]),
        ("/opt", 1, ["/opt/x"]),
    ]


def entry(dn: str, guid: str, cls: str, **attrs: str | list[str]) -> DirectoryEntry:
    values = {k: (v if isinstance(v, list) else [v]) for k, v in attrs.items()}
    return DirectoryEntry(dn, {"objectguid": [guid], "objectclass": ["top", cls], **values})


def test_directory_created_deleted_modified_and_expected() -> None:
    alice = entry(
        "CN=Alice,OU=U,DC=x",
        "g-alice",
        "user",
        samaccountname="alice",
        lockouttime="1",
        pwdlastset="1",
        lastlogon="5",
    )
    group = entry(
        "CN=Compta,OU=G,DC=x",
        "g-compta",
        "group",
        samaccountname="Compta",
        member=["CN=Bob,OU=U,DC=x"],
    )
    direction = entry("CN=Direction,OU=G,DC=x", "g-dir", "group", samaccountname="Direction")
    base = DirectoryBaseline(
        node="dc1",
        usn=4096,
        objects={
            e.first("objectguid") or "": baseline_object(e) for e in (alice, group, direction)
        },
    )
    now_alice = entry(
        "CN=Alice,OU=U,DC=x",
        "g-alice",
        "user",
        samaccountname="alice",
        lockouttime="0",
        pwdlastset="9",
        lastlogon="99",
    )
    now_group = entry(
        "CN=Compta,OU=G,DC=x",
        "g-compta",
        "group",
        samaccountname="Compta",
        member=["CN=Bob,OU=U,DC=x", "CN=Alice,OU=U,DC=x"],
    )
    logon_only = entry("CN=Compta2,OU=G,DC=x", "g-dir", "group", samaccountname="Direction")
    intruder = entry("CN=intrus,CN=Users,DC=x", "g-new", "user", samaccountname="intrus")
    tombstone = DirectoryEntry(
        "CN=Direction\\0ADEL:g-dir,CN=Deleted Objects,DC=x", {"objectguid": ["g-dir"]}
    )
    found = directory_changes(
        base,
        [now_alice, now_group, intruder],
        [tombstone],
        expected_guids=frozenset({"g-alice"}),
        expected_names=frozenset({"compta"}),
    )
    rows = {(c.name, c.change, tuple(c.attributes), c.expected) for c in found}
    assert rows == {
        ("Direction", "deleted", (), False),
        ("intrus", "created", (), False),
        ("alice", "modified", ("lockouttime", "pwdlastset"), True),  # lastLogon is noise
        ("Compta", "modified", ("member",), True),
    }
    # A rename or move says where it was; a logon alone is no change.
    moved = directory_changes(base, [logon_only], [])
    assert moved[0].attributes[0].startswith("dn (était CN=Direction")
    same = entry(
        "CN=Alice,OU=U,DC=x",
        "g-alice",
        "user",
        samaccountname="alice",
        lockouttime="1",
        pwdlastset="1",
        lastlogon="777",
    )
    assert directory_changes(base, [same], []) == []


def test_the_audit_snapshot_is_the_exam_start_one() -> None:
    assert lab_audit.SNAPSHOT == lifecycle.EXAM_START


def audit() -> ChangeAudit:
    files = group_files(
        [
            FileChangeRow(
                path="/etc/hosts", change="modified", kind="regular file", detail="content"
            ),
            FileChangeRow(
                path="/srv/compta",
                change="modified",
                kind="directory",
                detail="mode 770 -> 2770",
                expected=True,
            ),
        ]
    )
    return ChangeAudit(
        nodes=[
            NodeAudit(
                node="pc1", audited=True, files=files, file_count=2, filtered={"journaux": 3}
            ),
            NodeAudit(node="win1", audited=False, reason="machine virtuelle : non lue"),
        ],
    )


def test_summary_and_reports_show_the_audit_without_scoring_it(report: GradeReport) -> None:
    audited = report.model_copy(update={"changes": audit()})
    assert (audited.points, audited.exit_code) == (report.points, report.exit_code)
    lines = audit().summary_fr()
    assert lines == [
        "pc1 : 2 fichier(s) modifié(s) dont 1 hors périmètre",
        "win1 : non audité (machine virtuelle : non lue)",
    ]
    data = json.loads(render.to_json(audited))
    assert data["changes"]["nodes"][0]["files"][0]["changes"][0]["path"] == "/etc/hosts"
    page = html.unescape(render.to_html(audited))
    assert "Modifications constatées" in page and "non notées" in page
    assert "modifié  /etc/hosts [content]" in page
    assert "(attendu)" in page and "machine virtuelle : non lue" in page and "journaux 3" in page
    assert "Modifications constatées" not in render.to_html(report)
    assert json.loads(render.to_json(report))["changes"] is None


@pytest.fixture
def report() -> GradeReport:
    from datetime import UTC, datetime

    from tai_labs.grading.model import Verdict
    from tai_labs.grading.result import CheckResult

    check = CheckResult(
        id="unlocked",
        title="Compte déverrouillé",
        grader="ad.user",
        targets=["dc1"],
        competence="C6",
        criterion="C6.4",
        criterion_text="t",
        verdict=Verdict.PASS,
        points=2,
        max_points=2,
        message="ok",
        why_fr="ok",
        why_en="ok",
        seconds=0.1,
    )
    now = datetime.now(UTC)
    return GradeReport(
        lab="l",
        scenario="s",
        scenario_title="S",
        block="CCP2",
        candidate="c",
        seed=0,
        started=now,
        finished=now,
        threshold=0.5,
        checks=[check],
        competences=[],
        points=2,
        max_points=2,
    )


def test_why_a_list_is_incomplete_reads_in_french(pair: LayerPair) -> None:
    for i in range(5):
        put(pair.after, f"etc/f{i}", "x")
    capped = diff_layers(pair, max_changes=3)
    assert lab_audit._truncated_fr(capped.truncated) == "parcours arrêté après 3 modifications"
    assert lab_audit._truncated_fr("/srv: more than 50000 names") == (
        "/srv non parcouru (plus de 50000 entrées)"
    )
    assert lab_audit._truncated_fr("/a/b: folders nested deeper than 48") == (
        "/a/b non parcouru (plus de 48 niveaux)"
    )
    assert lab_audit._truncated_fr("time limit reached after 9 paths").startswith("temps limite")


def test_vm_nodes_are_not_audited_and_say_why() -> None:
    from types import SimpleNamespace

    vm = SimpleNamespace(name="win1", engine="vm")
    found = lab_audit.audit_node(SimpleNamespace(), vm)  # type: ignore[arg-type]
    assert not found.audited and found.reason.startswith("machine virtuelle")


def test_an_audit_error_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    def broken(*args: object) -> NodeAudit:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(lab_audit, "audit_node", broken)
    node = SimpleNamespace(name="pc1", engine="container")
    found = lab_audit._node_or_error(SimpleNamespace(), node, None, set())  # type: ignore[arg-type]
    assert not found.audited and "I/O error" in found.reason


def test_the_baseline_file_is_private_and_checked(tmp_path: Path) -> None:
    import contextlib
    from types import SimpleNamespace

    from tai_labs.errors import TaiLabsError

    lab = SimpleNamespace(
        folder=tmp_path, id="lab", plan=SimpleNamespace(nodes=[]), sessions=contextlib.nullcontext()
    )
    lab.read_record = lambda *args: Lab.read_record(lab, *args)  # type: ignore[arg-type]
    assert lab_audit.lab_audit_baseline(lab) is None  # type: ignore[arg-type]  # older lab
    lab_audit.record_audit_baseline(lab, lambda node, why: None)  # type: ignore[arg-type]
    path = tmp_path / lab_audit.AUDIT_BASELINE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert lab_audit.lab_audit_baseline(lab) is not None  # type: ignore[arg-type]
    (tmp_path / lab_audit.AUDIT_BASELINE_FILE).write_text('{"directory": 3}')
    with pytest.raises(TaiLabsError, match="does not read"):
        lab_audit.lab_audit_baseline(lab)  # type: ignore[arg-type]
