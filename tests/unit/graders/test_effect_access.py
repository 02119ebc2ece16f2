"""Access judged as effective access for the named principals (issue 12, §7 and §8): owner,
group, mode bits, POSIX ACL entries and mask together; read host-side from the xattr."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from graderkit import evidence, out

from tai_labs.grading.model import Verdict
from tai_labs.grading.parsers import access as acc
from tai_labs.providers import rootfs
from tai_labs.providers.base import HostView
from tai_labs.providers.rootfs import IdMap, OverlayTree
from tai_labs.sessions.hostside import host_answer

PASS, FAIL, ERROR = Verdict.PASS, Verdict.FAIL, Verdict.ERROR
DIR_STAT = out(0, "directory|2770|root|UNKNOWN|0|3000015|4096\n")
GROUP = out(0, "root:x:0:\nstaff:x:50:\n")
PASSWD = out(0, "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n")
GETENT = out(0, "CABINET\\commercial:x:3000015:\n")
WANT = {"group:Commercial": "rwx", "other": ""}


def facl(*lines: str, owner: int = 0, group: int = 3000015, flags: str = "") -> str:
    head = ["# file: /srv/c", f"# owner: {owner}", f"# group: {group}"]
    if flags:
        head.append(f"# flags: {flags}")
    return "\n".join([*head, *lines]) + "\n\n"


def judge_acl(judge, text: str, want: dict[str, str] = WANT, stat=DIR_STAT):  # type: ignore[no-untyped-def]
    ev = evidence(
        stat=stat,
        acl=out(0, text),
        passwd=PASSWD,
        group=GROUP,
        **{"getent:group:Commercial": GETENT},
    )
    return judge("linux.file", ev, path="/srv/c", access=want)


def test_effective_rights_with_mask() -> None:
    acl = acc.parse_getfacl(
        facl("user::rwx", "user:1000:rwx", "group::r-x", "group:50:rw-", "mask::r-x", "other::--x")
    )
    assert acl is not None
    assert acc.effective(acl, "user", 0)[0] == 7  # owner: never masked
    assert acc.effective(acl, "user", 1000)[0] == 5  # named user rwx masked to r-x
    assert acc.effective(acl, "group", 3000015)[0] == 5  # owning group r-x
    assert acc.effective(acl, "group", 50)[0] == 4  # named group rw- masked to r--
    assert acc.effective(acl, "group", 77)[0] == 1  # not named: the others' entry
    assert acc.effective(acl, "other", None)[0] == 1  # never masked
    assert acc.effective(acl, "user", 2000)[0] == 1


def test_setgid_folder_and_group_acl_pass(judge) -> None:
    setgid = facl("user::rwx", "group::rwx", "other::---", flags="-s-")
    assert judge_acl(judge, setgid).verdict is PASS
    # Mode 0700 and the group given its rights through an ACL entry: same access.
    by_acl = facl("user::rwx", "group::---", "group:3000015:rwx", "mask::rwx", "other::---")
    assert (
        judge_acl(judge, by_acl, stat=out(0, "directory|700|root|root|0|0|4096\n")).verdict is PASS
    )


def test_acl_for_one_user_is_not_the_groups_right(judge) -> None:
    one_user = facl("user::rwx", "user:3000016:rwx", "group::---", "mask::rwx", "other::---")
    j = judge_acl(judge, one_user)
    assert j.verdict is FAIL and "groupe Commercial" in j.why_fr and "aucun droit" in j.why_fr


def test_mask_cuts_the_group(judge) -> None:
    masked = facl("user::rwx", "group::rwx", "mask::r-x", "other::---")
    j = judge_acl(judge, masked)
    assert j.verdict is FAIL and "masque r-x" in j.why_fr


def test_open_to_all_fails_and_bad_output_is_error(judge) -> None:
    world = facl("user::rwx", "group::rwx", "other::rwx")
    j = judge_acl(judge, world)
    assert j.verdict is FAIL and "les autres" in j.why_fr
    assert judge_acl(judge, "garbage\n").verdict is ERROR
    ev = evidence(
        stat=DIR_STAT,
        acl=out(0, world),
        passwd=PASSWD,
        group=GROUP,
        **{"getent:group:Nope": out(2, "")},
    )
    j = judge("linux.file", ev, path="/srv/c", access={"group:Nope": "rwx"})
    assert j.verdict is FAIL and "n'existe pas" in j.why_fr


def test_access_params_are_checked() -> None:
    from tai_labs.grading.base import CHECKS

    params = CHECKS.get("linux.file").Params
    with pytest.raises(ValueError):
        params(path="/x", access={"groupe:a": "rwx"})
    with pytest.raises(ValueError):
        params(path="/x", access={"other": "rwz"})


def _xattr(*entries: tuple[int, int, int]) -> bytes:
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def test_xattr_parsed_on_the_host_with_shifted_ids(tmp_path: Path) -> None:
    """The node's ACL as the host's disk holds it (ids shifted by the user namespace),
    answered as getfacl prints it, ids mapped back through the node's map."""
    layer = tmp_path / "upper"
    folder = layer / "srv" / "c"
    folder.mkdir(parents=True)
    os.chmod(folder, 0o2770)
    raw = _xattr(
        (rootfs.ACL_USER_OBJ, 7, 0xFFFFFFFF),
        (rootfs.ACL_USER, 7, 100000 + 3000016),
        (rootfs.ACL_GROUP_OBJ, 0, 0xFFFFFFFF),
        (rootfs.ACL_GROUP, 7, 100000 + 3000015),
        (rootfs.ACL_MASK, 7, 0xFFFFFFFF),
        (rootfs.ACL_OTHER, 0, 0xFFFFFFFF),
    )
    try:
        os.setxattr(folder, rootfs.POSIX_ACL_XATTR, raw)
    except OSError as exc:
        pytest.skip(f"this file system keeps no POSIX ACL: {exc}")
    shifted = IdMap(((0, 100000, 65536 * 64),))
    view = HostView(files=OverlayTree([layer], shifted, shifted), init_pid=os.getpid())
    r = host_answer(view, ["env", "LC_ALL=C", "LANG=C", "getfacl", "-n", "-p", "--", "/srv/c"])
    assert r is not None and r.source == "host"
    acl = acc.parse_getfacl(r.stdout)
    assert acl is not None and acl.flags == "-s-"
    assert ("user", 3000016, 7) in acl.entries and ("group", 3000015, 7) in acl.entries
    assert acc.effective(acl, "group", 3000015)[0] == 7
    # No ACL at all: the minimal one the mode makes.
    plain = layer / "srv" / "p"
    plain.mkdir()
    os.chmod(plain, 0o750)
    r = host_answer(view, ["getfacl", "-n", "-p", "--", "/srv/p"])
    assert r is not None and "group::r-x" in r.stdout and "other::---" in r.stdout


def test_xattr_refused_when_malformed() -> None:
    with pytest.raises(ValueError):
        rootfs.parse_posix_acl_xattr(b"\x01\x00\x00\x00")
    with pytest.raises(ValueError):
        rootfs.parse_posix_acl_xattr(_xattr((3, 7, 0)))
